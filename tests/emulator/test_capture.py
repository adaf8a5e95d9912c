"""What the emulator received (``/_emulator/received``): off unless the config asks, the
last N bodies when it does, a body that is not JSON kept as text, and emptied on DELETE."""

import httpx

from emulator.profile import EmulatorConfig
from tests.emulated import StartEmulator

AUTH = {"authorization": "Bearer test-key"}


def _body(text: str) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


async def test_capture_is_off_by_default(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    url = f"{emulator.base_url}/v1/chat/completions"
    assert (await http.post(url, json=_body("hello"), headers=AUTH)).status_code == 200
    off = await http.get(f"{emulator.base_url}/_emulator/received")
    assert off.status_code == 404 and "capture: N" in off.json()["error"]
    assert (await http.delete(f"{emulator.base_url}/_emulator/received")).status_code == 404


async def test_the_last_n_bodies_are_kept_oldest_first(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(EmulatorConfig(capture=2))
    url = f"{emulator.base_url}/v1/chat/completions"
    for text in ("one", "two", "three"):
        await http.post(url, json=_body(text), headers=AUTH)
    received = (await http.get(f"{emulator.base_url}/_emulator/received")).json()["received"]
    assert [r["body"]["messages"][0]["content"] for r in received] == ["two", "three"]
    assert {r["path"] for r in received} == {"/v1/chat/completions"}
    # Refused calls are received too; a body that is not JSON is kept as its text.
    await http.post(url, content=b"not json {", headers=AUTH)
    last = (await http.get(f"{emulator.base_url}/_emulator/received")).json()["received"][-1]
    assert last["body"] == "not json {"
    cleared = await http.delete(f"{emulator.base_url}/_emulator/received")
    assert cleared.json() == {"received": []}
    assert (await http.get(f"{emulator.base_url}/_emulator/received")).json()["received"] == []
