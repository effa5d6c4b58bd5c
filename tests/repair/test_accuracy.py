"""RMSE at repaired pixels on smooth synthetic stacks with known clean frames."""

from __future__ import annotations

import numpy as np

from badpix.repair import repair

from ._scenes import naive_loop, plant, scene, scipy_normalized

METHODS = ("neighbors", "median", "inpaint")


def rmse_table(seed: int = 7, shape=(96, 128), n: int = 3) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    clean = np.rint(scene(rng, shape, n)).astype(np.uint16)
    regions = plant(rng, shape)
    mask = regions["singles"] | regions["clusters"] | regions["edges"]
    corrupt = clean.copy()
    corrupt[:, mask] = rng.choice([0, 65535], size=(n, int(mask.sum())))  # dead and hot
    results = {m: repair(corrupt, mask, method=m).astype(np.float64) for m in METHODS}
    results["naive loop"] = np.stack([naive_loop(f, mask) for f in corrupt])
    results["scipy normalized"] = np.stack([scipy_normalized(f.astype(np.float64), mask)
                                            for f in corrupt])
    table = {}
    for name, out in results.items():
        row = {}
        for region, sel in [("all", mask), *regions.items()]:
            err = out[:, sel] - clean[:, sel]
            row[region] = float(np.sqrt(np.nanmean(err ** 2)))
        table[name] = row
    return table


def test_neighbors_beats_naive_everywhere_and_strictly_at_edges_and_clusters():
    t = rmse_table()
    nb, naive = t["neighbors"], t["naive loop"]
    assert nb["singles"] <= naive["singles"] + 1e-9
    assert nb["edges"] < naive["edges"] / 10
    assert nb["clusters"] < naive["clusters"] / 10
    assert nb["all"] < naive["all"] / 10
    # the growth rule also beats the radius-1-only normalised convolution in clusters
    assert nb["clusters"] < t["scipy normalized"]["clusters"]
    for m in METHODS:  # every method lands within the scene's local contrast
        assert t[m]["all"] < 60, (m, t[m])
    assert t["inpaint"]["clusters"] < t["median"]["clusters"]


def test_isolated_pixels_match_the_exact_weighted_mean():
    # on singles with clean neighbours, neighbors IS the weighted mean
    rng = np.random.default_rng(1)
    clean = scene(rng, (40, 50), 1)[0]
    mask = np.zeros(clean.shape, bool)
    mask[[10, 20, 30], [10, 25, 40]] = True
    corrupt = np.where(mask, 1e6, clean)
    assert np.allclose(repair(corrupt, mask)[mask], naive_loop(corrupt, mask)[mask])


if __name__ == "__main__":  # prints the README table
    tab = rmse_table()
    cols = ["all", "singles", "clusters", "edges"]
    print("| method | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, row in tab.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.1f}" for c in cols) + " |")
