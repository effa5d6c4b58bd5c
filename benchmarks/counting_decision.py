"""The ``counting="auto"`` decision on every shared data set and on the synthetic stacks.

For each input: its dtype, the zero fraction of each of the 5 sampled frames (the
fraction of pixels equal to 0), their median, the fraction over *all* frames (to
check that 5 samples represent the stack) and the decision of
:func:`badpix.detect.photon.looks_like_counting`.  Prints a markdown table.

Usage: python benchmarks/counting_decision.py [DATA_DIR]   (default: ../shared/data)
"""

from __future__ import annotations

import argparse
import glob
import tempfile
from pathlib import Path

import hdf5plugin  # noqa: F401 - the .rtdc files are Zstandard-compressed
import numpy as np

from badpix import open_stack
from badpix.detect.photon import looks_like_counting, sample_indices, zero_fraction
from badpix.synth import write_synthetic

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_inputs(data: Path) -> list[tuple[str, object, str | None]]:
    """``(label, source, dataset)`` of every frame stack in the shared data."""
    real = data / "real"
    lam = real / "lambda_gaas_xray_petra3"
    httomo = real / "httomo_diamond_tomo_darks_flats"
    tooth = real / "tomopy_tooth" / "tooth.h5"
    out: list[tuple[str, object, str | None]] = [
        (f"LAMBDA m{m}", sorted(glob.glob(str(lam / f"*_m{m}_part*.nxs"))),
         "entry/instrument/detector/data") for m in (1, 2, 3)]
    out += [("K11 DIAD imaging (darks, flats, projections)",
             httomo / "k11_diad" / "k11-18014-imaging.h5", "entry/detector/detector"),
            ("I12 darks", httomo / "i12" / "dark_field.h5", "1-NoProcessPlugin-tomo/data"),
            ("tooth projections", tooth, "exchange/data"),
            ("tooth darks", tooth, "exchange/data_dark"),
            ("tooth flats", tooth, "exchange/data_white")]
    out += [(Path(p).name, p, None) for p in sorted(glob.glob(str(data / "dcnum" / "*.rtdc")))]
    return out


def row(label: str, stack) -> str:
    d = looks_like_counting(stack)
    r = stack.reader
    if np.isnan(d.zero_fraction):
        sampled = all_frames = "not read"
    else:
        buf = np.empty(r.frame_shape, r.dtype)
        per_frame = []
        for i in range(r.n_frames):
            r.read_frame(i, buf)
            per_frame.append(zero_fraction(buf))
        per_frame = np.array(per_frame)
        sampled = " ".join(f"{per_frame[i]:.4f}" for i in sample_indices(r.n_frames))
        all_frames = f"{per_frame.min():.4f}-{per_frame.max():.4f}"
    zf = "-" if np.isnan(d.zero_fraction) else f"{d.zero_fraction:.4f}"
    return (f"| {label} | {np.dtype(r.dtype).name} | {r.n_frames} | {sampled} | {zf} | "
            f"{all_frames} | **{d.rule_set}** |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=DATA)
    args = ap.parse_args()
    print("| input | dtype | frames | zero fraction of the 5 sampled frames | median | "
          "all frames (min-max) | decision |")
    print("|---|---|---|---|---|---|---|")
    for label, source, dataset in shared_inputs(args.data):
        if not source or not Path(source[0] if isinstance(source, list) else source).exists():
            print(f"| {label} | missing | | | | | |")
            continue
        print(row(label, open_stack(source, dataset=dataset)))
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"  # what `badpix demo` writes (40 frames, 768x256x3 uint16)
        write_synthetic(demo, "npy", shape=(768, 256), n_frames=40, channels=3, dtype="uint16",
                        seed=0)
        print(row("badpix demo sample (uint16 .npy, l2-l1-m0)", open_stack(demo,
                                                                         layout="l2-l1-m0")))
        for dtype in ("uint8", "uint16", "float32"):
            for scene in ("moving", "static", "flat"):
                d = Path(tmp) / f"{dtype}-{scene}"
                write_synthetic(d, "npy", shape=(128, 128), n_frames=20, dtype=dtype,
                                scene=scene, seed=1)
                print(row(f"make_synthetic {dtype} {scene}", open_stack(d)))
        jpeg = Path(tmp) / "jpeg"
        write_synthetic(jpeg, "jpeg", shape=(64, 64), n_frames=8, channels=3, dtype="uint8")
        print(row("write_synthetic JPEG series", open_stack(jpeg)))


if __name__ == "__main__":
    main()
