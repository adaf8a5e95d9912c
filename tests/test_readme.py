"""README.md's provider table says what the adapters really accept."""

from __future__ import annotations

import httpx

from adapters.capabilities import Capabilities
from adapters.credentials import AwsKeys, Credentials
from adapters.registry import ADAPTERS
from schemas.config_loader import parse_config
from tests.paths import EXAMPLE_CONFIG, ROOT

# README row name -> provider name in the example config
ROWS = {
    "OpenAI": "openai",
    "Azure OpenAI": "azure",
    "OpenRouter": "openrouter",
    "DeepSeek": "deepseek",
    "xAI (Grok)": "xai",
    "Perplexity": "perplexity",
    "Mistral": "mistral",
    "Together": "together",
    "Groq": "groq",
    "vLLM": "vllm",
    "LM Studio": "lmstudio",
    "Ollama `/v1`": "ollama-openai",
    "TGI": "tgi",
    "Anthropic": "anthropic",
    "Google Gemini": "gemini",
    "Cohere": "cohere",
    "AWS Bedrock": "bedrock",
    "Ollama native": "ollama",
}


def _table() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Providers\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ROWS:
            rows[cells[0]] = cells
    return rows


def _expected(caps: Capabilities) -> dict[str, str]:
    tools = "no"
    if "tools" in caps:
        tools = "yes" if "tool_choice_required" in caps else "yes, not `required`"
    images = "no"
    if "images" in caps:
        images = "inline + URL" if "image_urls" in caps else "inline"
    json = " + ".join(
        word for word, f in (("object", "json_object"), ("schema", "json_schema")) if f in caps
    )
    sampling = {(True, True): "yes", (False, False): "no"}.get(
        ("temperature" in caps, "top_p" in caps), "partly"
    )
    return {
        "tools": tools,
        "images": images,
        "json": json or "no",
        "sampling": sampling,
        "cached": "reported" if caps.reports_cached_tokens else "no",
    }


async def test_every_provider_has_a_true_row() -> None:
    config = parse_config(EXAMPLE_CONFIG.read_text(), env={})
    table = _table()
    assert set(table) == set(ROWS), "README provider table rows"
    assert set(ROWS.values()) == set(config.providers), "example config providers"
    credentials = Credentials(api_key="k", aws=AwsKeys("AKID", "secret"))
    async with httpx.AsyncClient() as client:
        for row, name in ROWS.items():
            provider = config.providers[name]
            adapter = ADAPTERS[provider.format](name, provider, client, credentials)
            want = _expected(adapter.capabilities)
            _, _, _, tools, images, json, sampling, cached = table[row]
            got = {
                "tools": tools,
                "images": images,
                "json": json,
                "sampling": sampling,
                "cached": cached.split(" ")[0],
            }
            assert got == want, row


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    assert "make test   #" in (ROOT / "README.md").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()[-1]
