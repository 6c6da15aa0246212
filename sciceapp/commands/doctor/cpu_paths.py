"""The doctor's CPU paths check: for each model, the runtime its calibration chose on this
CPU, every candidate's speed, and why a candidate is left out here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sciceapp.commands.doctor.report import OK, WARNING, Check


def check_cpu_paths(data_dir: Path) -> Check:
    """How each model runs on this CPU: the measured choice, every candidate's images/s, and
    why a candidate (OpenVINO, bf16, CoreML, the int8 copy) is left out here."""
    from sciceapp.engine import runtimes, tuning
    from sciceapp.engine.int8 import int8_problem
    from sciceapp.engine.manifests import list_local_models

    cpu = runtimes.cpu_description()
    versions = runtimes.runtime_versions()
    details: dict[str, Any] = {"cpu": cpu, "runtimes": versions, "models": []}
    left_out = {
        c.name: why
        for c in runtimes.candidates_for("fp32")
        if (why := runtimes.problem(c, int8_problem()))
    }
    details["left_out"] = left_out
    lines = [f"{cpu['name']}, {cpu['cpus']} CPUs, features: {' '.join(cpu['flags']) or 'none'}"]
    lines += [f"{name} left out: {why}" for name, why in left_out.items()]
    for model in list_local_models(data_dir):
        if model.info is None:
            continue
        record, why = tuning.load(data_dir, model.info.sha256)
        entry = {"path": str(model.path), "tuning": record.to_json() if record else None}
        details["models"].append({**entry, "why_not": why})
        name = model.path.name
        if record is None:
            lines.append(f"{name}: {why}; calibrates at its first use (or `sciceapp model tune`)")
        else:
            lines += [f"{name}: {record.lines()[0]}", *record.lines()[1:]]
            if record.active in left_out:  # measured here, and its runtime is gone since
                lines.append(
                    f"{name}: its measured choice {record.active} cannot run here now "
                    f"({left_out[record.active]}): ONNX Runtime runs the model as it is; "
                    f"`sciceapp model tune {name}` measures again"
                )
    native_bf16 = bool({"avx512_bf16", "amx_bf16", "bf16"} & set(cpu["flags"]))
    if native_bf16 and "not installed" in left_out.get("openvino-bf16", ""):
        # The one case where the user leaves much speed unused (bf16: about 1.5x int8).
        advice = (
            f"This CPU has native bf16: {runtimes.OPENVINO_INSTALL}, then `sciceapp model tune`."
        )
        return Check("cpu paths", WARNING, "\n    ".join(lines), advice, details)
    return Check("cpu paths", OK, "\n    ".join(lines), details=details)
