"""The best of many scores, chosen without sorting them all: MaxScore's estimates and cuts.

Compiled, for `index/maxscore.py`'s loops: rows come with their scores (partial or exact),
and the `keep` best are wanted, in rising row order.
"""

from __future__ import annotations

import numpy as np

from index.compiled import compiled

# A choice among more than this many times the rows kept first narrows them down by a
# histogram of this many bins.
_NEAR_THE_TOP = 4
_BINS = 4096


@compiled
def kth_best(scores, count, k):  # type: ignore[no-untyped-def]
    """Return the k-th largest of `scores[:count]` (count >= k)."""
    return np.partition(scores[:count], count - k)[count - k]  # a copy: the scores keep their order


@compiled
def kth_best_group(rows, scores, count, k, groups):  # type: ignore[no-untyped-def]
    """Return the k-th largest of the groups' best scores among `rows[:count]` (rising), and how many groups they hold.

    A group is the run of rows from each of `groups` (rising) to the next: a chunk's
    sentences, ranked by the best of them. Without groups every row is its own. With
    fewer than k groups, no k-th best is known: -1.
    """
    if len(groups) == 0:
        return (kth_best(scores, count, k) if count >= k else np.float32(-1.0)), count
    best = np.empty(count, np.float32)
    held, current = 0, -1
    for j in range(count):
        group = np.searchsorted(groups, rows[j], side="right") - 1
        if group != current:
            best[held], current = scores[j], group
            held += 1
        elif scores[j] > best[held - 1]:
            best[held - 1] = scores[j]
    return (kth_best(best, held, k) if held >= k else np.float32(-1.0)), held


@compiled
def best_of(rows, scores, count, keep):  # type: ignore[no-untyped-def]
    """Return the `keep` rows of `rows[:count]` with the best `scores`, rising (int64), and their scores.

    Rows above the cut come first, then as many rows at it as fit, in the order given. An
    estimate chooses among up to every row of a pass; a histogram of the scores finds the
    few rows near the top, and only those are partitioned: numba's partition costs about
    15 ns a value (28 ms for 2 million, against 6 ms this way). At a million synthetic
    passages a question's sentences took 65 against 72 to 84 ms (one thread), and a
    search's p50 and p99 went from 106 and 198 ms to 89 and 143 ms (two runs of each).
    """
    if count <= keep:
        chosen = rows[:count].astype(np.int64)
        order = np.argsort(chosen)
        return chosen[order], scores[:count][order]
    if count > _NEAR_THE_TOP * keep:
        near_rows, near_scores, near = _near_the_top(rows, scores, count, keep)
        return chosen_by_partition(near_rows, near_scores, near, keep)
    return chosen_by_partition(rows, scores, count, keep)


@compiled
def _near_the_top(rows, scores, count, keep):  # type: ignore[no-untyped-def]
    """Return the rows of `rows[:count]` in the histogram bins of the `keep` best scores (scores >= 0), in order."""
    top = np.float32(0.0)
    for j in range(count):
        top = max(top, scores[j])
    scale = (_BINS - 1) / max(np.float64(top), 1e-30)
    histogram = np.zeros(_BINS, np.int64)
    for j in range(count):
        histogram[int(scores[j] * scale)] += 1
    lowest, held = _BINS - 1, histogram[_BINS - 1]
    while held < keep:
        lowest -= 1
        held += histogram[lowest]
    near_rows, near_scores = np.empty(held, np.int64), np.empty(held, np.float32)
    at = 0
    for j in range(count):
        if int(scores[j] * scale) >= lowest:
            near_rows[at], near_scores[at] = rows[j], scores[j]
            at += 1
    return near_rows, near_scores, held


@compiled
def chosen_by_partition(rows, scores, count, keep):  # type: ignore[no-untyped-def]
    """`best_of` by one partition of all `count` scores (count > keep)."""
    cut = np.partition(scores[:count], count - keep)[count - keep]
    best_rows, best_scores = np.empty(keep, np.int64), np.empty(keep, np.float32)
    at_cut = np.empty(keep, np.int64)
    above = level = 0
    for j in range(count):
        if scores[j] > cut:
            best_rows[above], best_scores[above] = rows[j], scores[j]
            above += 1
        elif scores[j] == cut and level < keep:
            at_cut[level] = j
            level += 1
    for j in at_cut[: keep - above]:
        best_rows[above], best_scores[above] = rows[j], scores[j]
        above += 1
    order = np.argsort(best_rows)
    return best_rows[order], best_scores[order]
