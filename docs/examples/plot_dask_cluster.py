"""
Dask: scanning on a cluster, resuming and adding frames
=======================================================

``badpix scan frames/ -o scan/ --workers 2`` starts a local Dask cluster of two
worker processes; ``--scheduler tcp://HEAD:8786`` uses a running cluster, and in
Python ``badpix.run_scan(src, client=client)`` takes any
``dask.distributed.Client``. Integer results are bit-identical to a laptop run
for any chunking and worker count. This example starts a ``LocalCluster`` on
loopback, scans a synthetic stack on it, compares with the local engine, then
shows ``--checkpoint-every``/``--resume`` and ``--add`` from the command line.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

import badpix
from badpix.synth import write_synthetic

quick = os.environ.get("BADPIX_EXAMPLES_QUICK") == "1"
work = Path(tempfile.mkdtemp(prefix="badpix-dask-"))
n = 24 if quick else 48
write_synthetic(work / "frames", "npy", shape=(128, 160), n_frames=n, dtype="uint16", seed=2)

# %%
# The same scan on a two-worker cluster and locally. The cluster here runs its
# workers as threads of this process (``processes=False``) so the example also runs
# inside the documentation build; ``badpix scan --workers 2`` starts worker
# processes, and so can a script of yours with ``processes=True`` under an
# ``if __name__ == "__main__":`` guard (the workers are spawned Pythons that
# import the script again).
with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                  dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
    on_cluster = badpix.run_scan(work / "frames", client=client)
local = badpix.run_scan(work / "frames")
for name in local.bands:
    a, b = local.bands[name], on_cluster.bands[name]
    print(name, "flags identical:", np.array_equal(a.flags, b.flags),
          "| mean identical:", np.array_equal(a.stats.mean, b.stats.mean),
          "| median identical:", np.array_equal(a.stats.median, b.stats.median))

# %%
# Resumable state and new frames. ``--checkpoint-every N`` keeps the state in
# ``scan/state/``; after an interruption the same command with ``--resume``
# continues, and the outputs equal an uninterrupted scan's byte for byte.
# ``--add`` merges new frames into a checkpointed scan without re-reading the old ones.
frames = sorted((work / "frames").glob("*.npy"))
first, later = work / "first", work / "later"
first.mkdir()
later.mkdir()
for i, f in enumerate(frames):
    (first if i < n // 2 else later).joinpath(f.name).symlink_to(f)


def badpix_cli(*args):
    subprocess.run([sys.executable, "-m", "badpix", *args, "-q"], check=True)


badpix_cli("scan", str(first), "-o", str(work / "scan"), "--checkpoint-every", str(n // 4))
badpix_cli("scan", str(later), "-o", str(work / "scan"), "--add")
added = badpix.load_scan(work / "scan")
print("frames in the merged scan:", added.summary["input"]["n_frames"])
all_at_once = badpix.run_scan(work / "frames")
band = next(iter(all_at_once.bands))
print("merged flags equal one scan of all frames:",
      np.array_equal(added.mask(band), all_at_once.bands[band].flags))

# %%
# The temporal std of the band and the STUCK threshold: the stuck pixels sit at 0.
std = all_at_once.bands[band].stats.std
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
im = axes[0].imshow(std, cmap="viridis", vmax=np.percentile(std, 99.5))
axes[0].set_title(f"temporal std of band {band} ({n} frames)")
fig.colorbar(im, ax=axes[0], fraction=0.04)
axes[1].hist(std.ravel(), bins=200, log=True, color="#0072b2")
axes[1].axvline(all_at_once.params.stuck_std, color="k", ls="--", label="--stuck-std")
axes[1].set_xlabel("temporal std (DN)")
axes[1].set_ylabel("pixels")
axes[1].legend()
plt.show()
