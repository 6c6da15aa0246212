"""The two stages of a cluster run, called directly (no Ray): a decode task and a model
worker give what the desktop's pipeline gives, also with GPU decoding asked for on a machine
where it falls back to the CPU."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sciceapp.cluster import CPU_DECODE, GPU_DECODE
from sciceapp.cluster.tasks import EmbedWorker, describe_batch, fixed_rows
from sciceapp.engine.onnx_model import Embedder
from sciceapp.engine.pipeline import embed_files, scan


def _listing(paths) -> pa.Table:
    return pa.table(
        {
            "name": [str(p) for p in paths],
            "shard": ["s"] * len(paths),
            "size": [0] * len(paths),  # local files are measured when read
            "mtime_ns": [0] * len(paths),
        }
    )


def test_decode_task_and_worker_give_the_desktop_pipeline_s_descriptors(
    toy_model, exif_samples, tmp_path
):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a picture")
    paths = scan([exif_samples / "gps", exif_samples / "orientation"]) + [broken]
    embedder = Embedder(toy_model)
    batches = list(embed_files(paths, embedder))
    desktop = [item for batch in batches for item in batch.items]
    vectors = np.concatenate([batch.vectors for batch in batches if batch.ok])
    expected_reasons = [item.error for item in desktop]

    for decode in (CPU_DECODE, GPU_DECODE):  # no nvImageCodec here: GPU decoding falls back
        worker = EmbedWorker(
            model_path=str(toy_model),
            model_sha256=embedder.info.sha256,
            model_bytes=None,
            decode=decode,
        )
        out = worker(describe_batch(_listing(paths), info=embedder.info, decode=decode))
        assert out.column("reason").to_pylist() == expected_reasons, decode
        assert out.column("sha256").to_pylist() == [item.sha256 for item in desktop]
        ok = np.array([r is None for r in expected_reasons])
        got = fixed_rows(out.column("descriptor"), embedder.info.descriptor_dim)[ok]
        np.testing.assert_allclose(got, vectors, atol=1e-6, err_msg=decode)
        gps = [(r["lat"], r["lon"]) for r in out.select(["lat", "lon"]).to_pylist()]
        assert gps == [
            (i.meta.gps.lat, i.meta.gps.lon) if i.meta and i.meta.gps else (None, None)
            for i in desktop
        ]
    assert "decoding on the CPU: nvImageCodec is not installed" in worker.note


class _RecordingDecoder:
    """Stands in for nvImageCodec's decoder: decodes with Pillow and records what it got."""

    def __init__(self):
        self.given: list[bytes] = []

    def decode(self, datas):
        import io

        from PIL import Image

        self.given.extend(datas)

        class _Decoded:
            def __init__(self, pixels):
                self.pixels = pixels

            def cpu(self):
                return self.pixels

        return [_Decoded(np.asarray(Image.open(io.BytesIO(d)).convert("RGB"))) for d in datas]


def test_truncated_jpegs_and_bombs_never_reach_the_gpu_and_get_the_desktop_s_reasons(
    toy_model, exif_samples, tmp_path
):
    import io

    from PIL import Image

    from sciceapp.cluster.gpu_decode import GpuDecoder
    from sciceapp.engine.images import MAX_PIXELS

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(out, "JPEG")
    whole = out.getvalue()
    truncated = whole[: len(whole) * 2 // 3]
    bomb = bytearray(whole)  # the same file whose frame header claims 20000 x 20000 pixels
    sof = bomb.index(b"\xff\xc0")
    bomb[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") * 2
    assert MAX_PIXELS < 20000 * 20000
    paths = []
    for name, data in (("whole", whole), ("truncated", truncated), ("bomb", bytes(bomb))):
        paths.append(tmp_path / f"{name}.jpg")
        paths[-1].write_bytes(data)
    embedder = Embedder(toy_model)
    desktop = [item for batch in embed_files(paths, embedder) for item in batch.items]
    assert desktop[0].error is None and desktop[1].error and desktop[2].error

    decoder = GpuDecoder(embedder)
    decoder.decoder = _RecordingDecoder()  # as if nvImageCodec and a GPU were there
    datas = [p.read_bytes() for p in paths]
    inputs, reasons = decoder.model_inputs(datas, [None] * len(datas))
    assert decoder.decoder.given == [whole]  # only the whole, reasonably sized JPEG
    assert reasons == [item.error for item in desktop]
    assert inputs[0] is not None and inputs[1] is None and inputs[2] is None
