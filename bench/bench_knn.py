#!/usr/bin/python3
"""The sklearn side of bench_knn (make bench-knn): exact K-NN by brute force.

    bench_knn.py ROWS N D K OUT

Reads N x D float64 rows (raw, row-major) from ROWS, times sklearn's
NearestNeighbors(n_neighbors=K+1, algorithm="brute", n_jobs=-1) fit and
kneighbors on the same rows (every core), drops each row itself from its
neighbours and writes m_i, the mean distance to the K others, as float64 to
OUT. Prints "sklearn_seconds S".
"""
import sys
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors


def main():
    path, n, d, k, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    X = np.fromfile(path, dtype=np.float64).reshape(n, d)
    t0 = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", n_jobs=-1).fit(X)
    dist, idx = nn.kneighbors(X)
    secs = time.perf_counter() - t0
    # The row itself is among its K + 1 nearest unless K + 1 duplicates tie with it;
    # then the farthest of the K + 1 is the one left out.
    keep = idx != np.arange(n)[:, None]
    keep[keep.all(axis=1), k] = False
    m = dist[keep].reshape(n, k).mean(axis=1)
    m.astype(np.float64).tofile(out)
    print("sklearn_seconds %.3f" % secs)


if __name__ == "__main__":
    main()
