import numpy as np
import pytest

from vietai_compress.huffman import HuffmanCode, canonical_codes, code_lengths, entropy


def _random_counts(rng, size):
    counts = rng.integers(0, 1000, size=size)
    counts[rng.integers(0, size)] += 1  # at least one used symbol
    return counts


def test_the_textbook_example_has_the_optimal_cost():
    # CLRS 16.3: frequencies a:45 b:13 c:12 d:16 e:9 f:5 -> an optimal code costs 224 bits
    counts = np.array([45, 13, 12, 16, 9, 5])
    lengths = code_lengths(counts)
    assert int((counts * lengths).sum()) == 224
    assert lengths[0] == 1  # the most frequent symbol gets the shortest code


@pytest.mark.parametrize("seed", range(20))
def test_kraft_sum_is_one_and_average_length_is_within_entropy_bounds(seed):
    rng = np.random.default_rng(seed)
    counts = _random_counts(rng, int(rng.integers(2, 40)))
    if np.count_nonzero(counts) < 2:
        counts[np.flatnonzero(counts == 0)[0]] = 1
    code = HuffmanCode(code_lengths(counts))
    assert code.kraft_sum == pytest.approx(1.0, abs=1e-12)
    h = entropy(counts)
    assert h <= code.average_length(counts) < h + 1


def test_canonical_codes_are_prefix_free():
    lengths = code_lengths(np.array([5, 1, 1, 2, 7, 0, 3]))
    codes = canonical_codes(lengths)
    words = [format(int(c), f"0{l}b") for c, l in zip(codes, lengths) if l > 0]
    assert len(set(words)) == len(words)
    for a in words:
        for b in words:
            assert a == b or not b.startswith(a)


@pytest.mark.parametrize("seed", range(10))
def test_random_streams_round_trip_exactly(seed):
    rng = np.random.default_rng(seed)
    alphabet = int(rng.integers(2, 300))
    probabilities = rng.dirichlet(np.full(alphabet, 0.3))
    symbols = rng.choice(alphabet, size=int(rng.integers(1, 5000)), p=probabilities)
    code = HuffmanCode.from_symbols(symbols, alphabet)
    data = code.encode(symbols)
    assert len(data) == -(-code.encoded_bits(np.bincount(symbols, minlength=alphabet)) // 8)
    assert np.array_equal(code.decode(data, len(symbols)), symbols)


def test_skewed_stream_with_long_codes_round_trips():
    counts = np.array([2 ** i for i in range(30)])  # code lengths up to 29 bits
    symbols = np.repeat(np.arange(30), np.minimum(counts, 50))
    code = HuffmanCode(code_lengths(counts))
    assert code.lengths.max() == 29
    assert np.array_equal(code.decode(code.encode(symbols), len(symbols)), symbols)


def test_one_symbol_stream_round_trips():
    symbols = np.full(17, 3)
    code = HuffmanCode.from_symbols(symbols, 5)
    assert code.lengths.tolist() == [0, 0, 0, 1, 0]
    assert np.array_equal(code.decode(code.encode(symbols), 17), symbols)


def test_empty_stream_round_trips():
    code = HuffmanCode.from_symbols(np.array([], dtype=np.int64), 4)
    assert code.encode(np.array([], dtype=np.int64)) == b""
    assert code.decode(b"", 0).size == 0


def test_truncated_stream_is_an_error():
    rng = np.random.default_rng(0)
    symbols = rng.integers(0, 8, size=400)
    code = HuffmanCode.from_symbols(symbols, 8)
    data = code.encode(symbols)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        code.decode(data[: len(data) // 2], len(symbols))


def test_symbols_outside_the_alphabet_or_without_code_are_errors():
    code = HuffmanCode.from_symbols(np.array([0, 1, 1]), 3)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        code.encode(np.array([3]))
    with pytest.raises(ValueError, match="no code"):
        code.encode(np.array([2]))
    with pytest.raises(TypeError, match="integers"):
        code.encode(np.array([0.5]))


def test_entropy():
    assert entropy([1, 1, 1, 1]) == pytest.approx(2.0)
    assert entropy([5]) == 0.0


def test_invalid_code_tables_are_refused():
    with pytest.raises(ValueError, match="Kraft"):
        HuffmanCode(np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="code lengths must be in"):
        HuffmanCode(np.array([1, 200]))
