"""AWS Bedrock Converse as the emulator serves it."""
