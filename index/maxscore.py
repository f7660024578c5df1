"""The best BM25 rows of a collection by MaxScore, compiled: the postings loops of a query.

Terms come ordered by their upper bound (idf times the largest share of it any row
gets), largest first. A row that holds none of the terms visited so far can score at
most the bounds of the terms left; once that is below the k-th best score known (the
threshold), no such row can enter the top k, and the remaining terms, the common
ones with long postings, are not visited: the rows already found are completed from
their own terms, read in the forward index (Turtle and Flood's MaxScore, term at a
time, with the lookups of its second phase made by row). The threshold comes from the
exact scores of the k rows that the terms visited so far score best, taken again each
time the rows found grow fourfold.

On a collection where every passage holds most of a question's common syllables, the
rows that could still reach the threshold when the common terms are reached are most
of the collection. `cap` completes those whose score so far is best; the others would
need nearly every common term's largest share to enter, which is why their loss is
rare (the scale bench measures it as recall against exhaustive scoring). `cap=0`
completes them all, and `k=0` visits every posting: the exhaustive reference.

Rows may come in groups, a chunk's sentences, each chunk ranked by its best sentence:
then `k` counts groups, and the threshold is the k-th best group's score (the best
sentences often share chunks, the overlap of neighbouring chunks). The estimates choose
as many more rows as the best rows share groups, and so does `cap`.

A pass covers consecutive segments (`index/accumulate.py` chooses them): a term's
postings are visited in each segment in turn, rows numbered across the segments, so
the threshold and the rows completed are those of all of them. (A pass per segment,
each from the threshold those before reached, estimates and completes once per
segment: at 100,000 passages in 4 segments the BM25 stage took 1.8 times as long as in
one.) A segment's arrays are `index/bm25.py`'s, per field: postings (rows rising within
a term, tf), each row's `norm`, and the forward index. A term's contribution to a row is
`weight * tf / (norm + tf)`, in float32 as numpy computes it there, and a row's
contributions are summed in float32 in the terms' order, whichever way they were found,
so a score is the same to the last bit on every path. (Sums in float64 made the postings
loop 1.4 times slower at a million passages: its accumulator is read and written at random.)
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from index.compiled import compiled
from index.topk import best_of, kth_best_group

# Rows read ahead while completing rows from the forward index. At a million synthetic passages
# (2,000 random rows of each of 40 questions, read before) a sentence row took 1.8 against 3.1 µs
# and a passage row 3.2 against 5.6 µs; 4, 8 and 16 rows ahead did alike.
_AHEAD = 4
# Rows completed for each estimate of the threshold, per row wanted. Fewer make the threshold
# rise later: more of the rarer terms are visited before the common ones are left to lookups,
# so `cap` keeps the rows to complete by fuller partial scores. 1 instead of 2 took recall@10
# against exhaustive scoring from 0.955 to 0.965 at a million synthetic passages (101
# questions), for 3% more CPU time a search, and from 0.980 to 0.981 at 100,000 (206).
_ESTIMATED_PER_WANTED = 1


def segment_list(segments: list[tuple[tuple[np.ndarray, ...], ...]]) -> Any:
    """Return the segments' arrays as the list the compiled loops take: one type, whatever the number of segments."""
    return numba.typed.List(segments)


@compiled
def term_peaks(indptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Return per term the largest `tf / (norm + tf)` over its postings (float32)."""
    peaks = np.zeros(len(indptr) - 1, np.float32)
    for term in range(len(indptr) - 1):
        best = np.float32(0.0)
        for p in range(indptr[term], indptr[term + 1]):
            t = np.float32(tf[p])
            value = t / (norm[rows[p]] + t)
            if value > best:
                best = value
        peaks[term] = best
    return peaks


@compiled
def _by_position(fields, positions, first, field):  # type: ignore[no-untyped-def]
    """Return the indices of the terms `first`.. of `field` that a segment holds (`positions`), by rising position."""
    chosen = [i for i in range(first, len(fields)) if fields[i] == field and positions[i] >= 0]
    chosen = np.array(chosen, dtype=np.int64)
    return chosen[np.argsort(positions[chosen], kind="mergesort")]


@compiled
def _shares_of_row(field_arrays, row, bits, asked, ordered, weights, shares):  # type: ignore[no-untyped-def]
    """Set `shares[i]` to the contribution to `row` of each asked term `i` of one field that it holds."""
    _, _, norm, forward_indptr, forward_terms, forward_tf = field_arrays
    for e in range(forward_indptr[row], forward_indptr[row + 1]):
        position = forward_terms[e]
        if (bits[(position >> 6) & 63] >> (position & 63)) & 1 == 0:
            continue
        at = np.searchsorted(asked, position)
        while at < len(asked) and asked[at] == position:
            i = ordered[at]
            t = np.float32(forward_tf[e])
            shares[i] = weights[i] * (t / (norm[row] + t))
            at += 1


@compiled
def _read_ahead(field_arrays, row):  # type: ignore[no-untyped-def]
    """Read one value from each cache line of a row's terms and counts, and its norm; return their sum.

    A row's terms are scattered reads: read a few rows ahead, their cache misses overlap
    the work on the rows before them instead of each waiting its turn.
    """
    _, _, norm, forward_indptr, forward_terms, forward_tf = field_arrays
    begin, end = forward_indptr[row], forward_indptr[row + 1]
    total = np.int64(norm[row])
    for e in range(begin, end, 16):  # 16 int32 to a 64-byte line
        total += forward_terms[e]
    for e in range(begin, end, 32):
        total += forward_tf[e]
    return total


@compiled
def _complete(segments, shifts, fields, positions, weights, first, targets, count, scores):  # type: ignore[no-untyped-def]
    """Add to `scores[j]` the contributions of terms `first`.. to row `targets[j]`, read from its own terms.

    Most of a row's terms are not asked: a 4,096-bit filter of the asked positions turns
    them away in a step each, and the few it lets through are searched for among the
    asked terms (by position, so a term asked twice is found twice). Rows come rising,
    so the asked terms of a segment are sorted once per segment. Returns the sum of the
    values read ahead (`_read_ahead`), which only keeps the compiler from dropping those reads.
    """
    shares = np.zeros(len(weights), np.float32)
    empty = np.zeros(0, np.int64)
    ordered0, ordered1, asked0, asked1 = empty, empty, empty.astype(np.int32), empty.astype(np.int32)
    bits0, bits1 = _filter_of(asked0), _filter_of(asked1)
    segment, start, end = -1, 0, 0
    arrays = segments[0]  # a segment's arrays, taken from the list once per segment, not per row
    read = 0
    for j in range(count):
        row = targets[j]
        if row < start or row >= end:
            segment = np.searchsorted(shifts, row, side="right") - 1
            start, end = shifts[segment], shifts[segment + 1]
            held = positions[segment]
            ordered0, ordered1 = _by_position(fields, held, first, 0), _by_position(fields, held, first, 1)
            asked0, asked1 = held[ordered0].astype(np.int32), held[ordered1].astype(np.int32)
            bits0, bits1 = _filter_of(asked0), _filter_of(asked1)
            arrays = segments[segment]
        ahead = targets[min(j + _AHEAD, count - 1)] - start
        if ahead < end - start:  # in this segment
            read += _read_ahead(arrays[0], ahead) + _read_ahead(arrays[1], ahead)
        _shares_of_row(arrays[0], row - start, bits0, asked0, ordered0, weights, shares)
        _shares_of_row(arrays[1], row - start, bits1, asked1, ordered1, weights, shares)
        total = scores[j]
        for i in range(first, len(weights)):  # in the terms' order, as the postings loop adds them
            total += shares[i]
            shares[i] = 0.0
        scores[j] = total
    return read


@compiled
def _completed(segments, shifts, fields, positions, weights, first, rows, scores, done_rows, done_scores):  # type: ignore[no-untyped-def]
    """Complete `scores` of `rows` from term `first` on, taking the exact scores known in `done_*`; return those grown.

    A row's exact score does not depend on where its completion started (its terms are
    summed in their order either way), and the rows each estimate of the threshold
    completes are largely those the previous one did, and those the last phase keeps:
    completing each row once does two fifths fewer lookups in the forward index, the
    scattered reads that cost most of a query.
    """
    at = np.searchsorted(done_rows, rows)
    new = np.empty(len(rows), np.int64)
    count = 0
    for j in range(len(rows)):
        if at[j] < len(done_rows) and done_rows[at[j]] == rows[j]:
            scores[j] = done_scores[at[j]]
        else:
            new[count] = j
            count += 1
    targets, partials = rows[new[:count]], scores[new[:count]]
    _complete(segments, shifts, fields, positions, weights, first, targets, count, partials)
    scores[new[:count]] = partials
    grown_rows, grown_scores = np.concatenate((done_rows, targets)), np.concatenate((done_scores, partials))
    order = np.argsort(grown_rows)
    return grown_rows[order], grown_scores[order]


@compiled
def _filter_of(asked):  # type: ignore[no-untyped-def]
    bits = np.zeros(64, np.int64)
    for position in asked:
        bits[(position >> 6) & 63] |= 1 << (position & 63)
    return bits


@compiled
def looked_up(segments, shifts, fields, positions, weights, targets):  # type: ignore[no-untyped-def]
    """Return the exact score of each of `targets` (rows, rising), the terms summed in their order."""
    scores = np.zeros(len(targets), np.float32)
    _complete(segments, shifts, fields, positions, weights, 0, targets, len(targets), scores)
    return scores


@compiled
def best_rows(  # type: ignore[no-untyped-def]
    segments, shifts, starts, ends, fields, positions, weights, bounds, k, cap, floor, estimate, deleted, groups
):
    """Return the rows that may be the best of the `k` best groups, rising, their exact scores, threshold, completeness.

    Args:
        segments: per segment, per field (rows, tf, norm, forward_indptr, forward_terms, forward_tf).
        shifts: the first row of each segment (numbered across the collection), then the row after the last.
        starts, ends, positions: per segment and term, where its postings are in its field's
            arrays and its place in the field's sorted hashes (-1, and no postings: not held).
        fields, weights, bounds: per term, largest bound first.
        k: the best groups wanted (0: every row any term names, exactly).
        cap: most rows completed from their own terms (0: no limit), times the rows per
            group among the best rows when the estimates find them sharing groups.
        floor: a score the k-th best group is known to reach (from other passes), or -1.
        estimate: whether to estimate the threshold while visiting; if not, the terms are
            visited until the floor stops them, every one without a floor, and only the
            rows found then are completed.
        deleted: rows (numbered across the collection) that match nothing: tombstones.
        groups: the first row of each group, rising (a chunk's sentences: the chunk ranks by
            its best one); empty: every row is its own group.
    """
    terms = len(weights)
    left = np.zeros(terms + 1, np.float64)  # left[i]: the most terms i.. can add to a row
    for i in range(terms - 1, -1, -1):
        left[i] = left[i + 1] + bounds[i]
    base = shifts[0]
    size = shifts[-1] - base
    partial = np.zeros(size, np.float32)  # half the bytes of float64: the loop waits on its random reads
    for row in deleted:
        # Never touched (not 0), and stays so: a deleted row neither enters the list nor
        # raises a threshold the live rows must reach, at no cost in the postings loop.
        partial[row - base] = -np.inf
    touched = np.empty(size + 1, np.int32)  # one more: a row seen before is written past the last new one
    count, threshold, i = 0, floor, 0
    done_rows, done_scores = np.zeros(0, np.int64), np.zeros(0, np.float32)  # rows completed so far
    estimate_at = _ESTIMATED_PER_WANTED * k if k > 0 and estimate else size + 1  # rows found before estimating
    spread = 1.0  # rows per group among the best rows: a chunk's best sentences are often neighbours
    while i < terms and (k == 0 or left[i] > threshold):
        weight = weights[i]
        for segment in range(len(segments)):
            rows, tf, norm = segments[segment][fields[i]][:3]
            shift = shifts[segment] - base
            for p in range(starts[segment, i], ends[segment, i]):
                local = rows[p]
                row = shift + local
                t = np.float32(tf[p])
                # Written whether new or not, counted only if new (every contribution is above
                # zero): a branch here is mispredicted half the time on rows of many terms. At a
                # million synthetic passages the passages' field took 12.0 against 13.8 ms a
                # question (one thread); sentences, of few terms each, gained little.
                old = partial[row]
                touched[count] = row
                count += old == 0.0
                partial[row] = old + weight * (t / (norm[local] + t))
        i += 1
        if count >= estimate_at and i < terms and left[i] > threshold:
            # The rows the rarer terms favour change as commoner terms come in: estimated
            # again each time the rows found grow fourfold, a few times per query.
            estimate_at = 4 * count
            keep = int(_ESTIMATED_PER_WANTED * k * spread)
            best, exact = best_of(touched[:count], partial[touched[:count]], count, keep)
            best += base
            done_rows, done_scores = _completed(
                segments, shifts, fields, positions, weights, i, best, exact, done_rows, done_scores
            )
            kth, held = kth_best_group(best, exact, len(best), k, groups)
            threshold = max(threshold, kth)
            spread = max(spread, len(best) / max(held, 1))
    visited = i
    found = np.empty(count, np.int64)
    kept = 0
    for j in range(count):
        if partial[touched[j]] + left[visited] >= threshold:
            found[kept] = touched[j]
            kept += 1
    pruned = kept < count
    cap = int(cap * spread)
    found, scores = best_of(found, partial[found[:kept]], kept, cap if 0 < cap < kept else kept)
    pruned = pruned or len(found) < kept
    found += base
    if visited < terms:
        _completed(segments, shifts, fields, positions, weights, visited, found, scores, done_rows, done_scores)
    if k > 0:  # the scores are exact now: the next pass starts from the k-th best group
        threshold = max(threshold, kth_best_group(found, scores, len(found), k, groups)[0])
    if visited == terms and not pruned:  # every row any term names, exactly: listed whole
        return found, scores, threshold, True
    above = scores >= threshold
    return found[above], scores[above], threshold, False
