"""The serving benchmark's baseline: a previous release's archive, served beside the current one.

A release is judged against the release before it, measured in the same run on the same machine
(`python -m stockcast.bench serving --baseline-mar PATH`, `make bench-serving BASELINE=PATH`): p50
at concurrency 1 at most 1.3x the baseline's, and requests/s at concurrency 8 at least 0.75x its.
The baseline is served as the floors and stockcast are (stockcast/bench/serving.py): a fresh
TorchServe per round with torchserve/config.properties, the same wrk levels, in the same rounds,
its turn swapped with stockcast's every round so neither always runs after the other.

Same worker settings: an archive carries its own model-config.yaml (workers, batch size, batch
delay), and a baseline with other settings would be measured with more or fewer workers on the same
cores, not as other code. So the baseline is served from a copy that carries the current archive's
model-config.yaml, everything else byte for byte as released; the report says when its own
differed. What the archive says about itself (its manifest's version, source.json, the `model`
block of its answer) is recorded with the figures.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

from stockcast.bench.wrk import ratios_to
from stockcast.errors import StockcastError
from stockcast.release.packaging import MANIFEST, SOURCE_FILE

BASELINE_MODEL = "baseline"  # the baseline archive, served under this name
TARGET_P50_RATIO = 1.3  # a release's p50 at c=1 at most 1.3x the baseline's
TARGET_RPS_RATIO = 0.75  # ... and its requests/s at c=8 at least 0.75x the baseline's


def read_manifest(mar: Path) -> dict:
    """The archive's MAR-INF/MANIFEST.json; a one-line error for what is not a TorchServe archive."""
    try:
        with zipfile.ZipFile(mar) as archive:
            return json.loads(archive.read(MANIFEST))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise StockcastError(f"{mar}: not a readable TorchServe archive ({error})") from error


def archive_identity(mar: Path) -> dict:
    """What an archive says about itself: file, checksum, manifest version, and where and when it
    was packaged (source.json, when it has one)."""
    model = read_manifest(mar)["model"]
    with zipfile.ZipFile(mar) as archive:
        source = json.loads(archive.read(SOURCE_FILE)) if SOURCE_FILE in archive.namelist() else {}
    return {
        "file": mar.name,
        "sha256": hashlib.sha256(mar.read_bytes()).hexdigest(),
        "version": model.get("modelVersion"),
        "packaged_at": source.get("packaged_at"),
        "source_run": source.get("run"),
    }


def with_model_config(baseline: Path, current: Path, target: Path) -> bool:
    """Write `target`: the baseline archive, with the current archive's model-config.yaml (named
    in its manifest) in place of its own. True when the baseline's own differed (or it had none)."""
    read_manifest(baseline)  # refuse what is not an archive before anything is written
    config_name = read_manifest(current)["model"].get("configFile")
    with zipfile.ZipFile(baseline) as source:
        manifest = json.loads(source.read(MANIFEST))
        own_name = manifest["model"].get("configFile")
        if config_name is None:  # the current archive runs on TorchServe's defaults: so does this
            shutil.copyfile(baseline, target)
            return own_name is not None
        with zipfile.ZipFile(current) as ours:
            config = ours.read(config_name)
        own = source.read(own_name) if own_name in source.namelist() else None
        if own_name == config_name and own == config:
            shutil.copyfile(baseline, target)
            return False
        manifest["model"]["configFile"] = config_name
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for entry in source.infolist():
                if entry.filename not in {MANIFEST, own_name, config_name}:
                    out.writestr(entry, source.read(entry))
            out.writestr(config_name, config)
            out.writestr(MANIFEST, json.dumps(manifest, indent=2))
    return True


def compare_to_baseline(ours: dict, baseline: dict) -> tuple[dict, dict]:
    """Stockcast's figures over the baseline's, and which of the release targets they meet."""
    ratios = ratios_to(ours, baseline)
    targets_met = {
        f"p50_c1_at_most_{TARGET_P50_RATIO}x": ratios["p50_c1"] <= TARGET_P50_RATIO,
        f"requests_per_s_c8_at_least_{TARGET_RPS_RATIO}x": ratios["requests_per_s_c8"]
        >= TARGET_RPS_RATIO,
        "zero_errors": ours["errors"] == 0 and baseline["errors"] == 0,
    }
    return ratios, targets_met


def archive_words(archive: dict) -> str:
    """An archive in a few words: its version and, when its answer says so, what it was trained on."""
    trained_on = (archive.get("model") or {}).get("trained_on")
    return f"version {archive['version']}" + (f", trained on {trained_on}" if trained_on else "")


def summary_lines(report: dict) -> tuple[str, str, str]:
    """What the summary adds for a baseline: a sentence naming both archives, the baseline's row
    in the servers' table, and stockcast's figures over it with the targets."""
    baseline, ratio = report["baseline"], report["vs_baseline"]
    config = (
        "served with the current archive's model-config.yaml (its own differed)"
        if baseline["archive"]["model_config_replaced"]
        else "with the same model-config.yaml"
    )
    sentence = (
        f"baseline {baseline['archive']['file']} ({archive_words(baseline['archive'])}), "
        f"{config}, against stockcast ({archive_words(report['archive'])}); the two swap turns "
        "every round"
    )
    figures = (
        f"| baseline | {baseline['p50_ms_c1']:.2f} | {baseline['requests_per_s_c8']:,.0f} | "
        f"{baseline['requests_per_s_c32']:,.0f} | {baseline['server_cpu_ms_per_request_c8']:.2f} "
        f"| {baseline['errors']} |"
    )
    ratios = (
        f"| stockcast / baseline | **{ratio['p50_c1']:.2f}x** (target <= {TARGET_P50_RATIO}x) | "
        f"**{ratio['requests_per_s_c8']:.2f}x** (target >= {TARGET_RPS_RATIO}x) | "
        f"{ratio['requests_per_s_c32']:.2f}x | {ratio['server_cpu_ms_per_request_c8']:.1f}x | |"
    )
    return sentence, figures, ratios
