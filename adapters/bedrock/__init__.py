"""AWS Bedrock's Converse wire format, SigV4-signed."""
