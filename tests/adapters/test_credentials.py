from pathlib import Path

from adapters.credentials import credentials_for, missing_credentials
from schemas.config_loader import parse_config

CONFIG = """
providers:
  emu: {format: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: EMU_KEY}
  unused: {format: anthropic, base_url: "http://127.0.0.1:2", api_key_env: UNUSED_KEY}
  filed: {format: cohere, api_key_file: KEYFILE}
  aws: {format: bedrock, region: eu-west-1}
models:
  small: {provider: emu, upstream: s, input_per_mtok: "1", output_per_mtok: "2",
          context_window: 1000}
  c: {provider: filed, upstream: c, input_per_mtok: "1", output_per_mtok: "2",
      context_window: 1000}
  b: {provider: aws, upstream: b, input_per_mtok: "1", output_per_mtok: "2",
      context_window: 1000}
routes:
  - {name: default, primary: small, fallbacks: [c, b]}
"""


def test_missing_credentials_only_for_used_providers(tmp_path: Path) -> None:
    keyfile = tmp_path / "cohere.key"
    config = parse_config(CONFIG.replace("KEYFILE", str(keyfile)))
    assert missing_credentials(config, env={}) == [
        "providers.aws: environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        " must both be set",
        "providers.emu.api_key_env: environment variable EMU_KEY is not set",
        f"providers.filed.api_key_file: cannot read a key from {keyfile}",
    ]
    keyfile.write_text("secret-from-file\n")
    env = {"EMU_KEY": "k", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}
    assert missing_credentials(config, env=env) == []
    assert credentials_for(config.providers["filed"], env).api_key == "secret-from-file"
    aws = credentials_for(config.providers["aws"], env).aws
    assert aws is not None and aws.access_key == "AKIA"


def test_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    config = parse_config(CONFIG.replace("KEYFILE", str(tmp_path / "k")))
    env = {
        "EMU_KEY": "sk-very-secret",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t",
    }
    assert "sk-very-secret" not in repr(credentials_for(config.providers["emu"], env))
    assert "s3cr3t" not in repr(credentials_for(config.providers["aws"], env))
