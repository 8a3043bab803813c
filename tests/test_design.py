"""Design warnings follow the data: what each lint claims is true of the graph it warns about."""
import pytest
from conftest import SPECS

SE = """
archspec: 1
name: se
inputs: {x: [16, 16, 8]}
blocks:
  se:
    params: {ratio: 4}
    body:
      - branches:
          merge: multiply
          paths:
            - []
            - - global_avg_pool: {keepdims: true}
              - conv2d: {filters: $in.channels // ratio, kernel: 1, activation: relu}
              - conv2d: {filters: $in.channels, kernel: 1, activation: sigmoid}
model:
  - conv2d: {filters: 8, kernel: 3, padding: same}
  - se: {}
  - conv2d: {filters: 8, kernel: 3, padding: same}
  - se: {}
  - depthwise_conv2d: {kernel: 5, padding: same}
TAIL
"""


def codes(spec):
    return [w.code for w in spec.warnings]


def test_squeeze_and_excitation_is_not_a_collapse(load):
    """The SE gate pools to 1×1, but the multiply puts the gate back onto the full map: the 3×3 and 5×5
    kernels after it run on 16×16."""
    spec = load(SE.replace("TAIL", "  - global_avg_pool: {}\n  - dense: {units: 10}"))
    assert "spatial-collapse" not in codes(spec)


@pytest.mark.parametrize("tail, n", [
    ("  - conv2d: {filters: 8, kernel: 16}\n  - conv2d: {filters: 8, kernel: 3, padding: same}", 1),
    ("  - global_avg_pool: {keepdims: true}\n  - upsampling: 4\n  - conv2d: {filters: 8, kernel: 3, padding: same}\n"
     "  - conv2d: {filters: 8, kernel: 1}\n  - max_pool: {pool_size: 2}", 2),
])
def test_a_real_collapse_after_squeeze_and_excitation_still_warns(load, tail, n):
    """After the SE blocks the map really collapses; the spatial layers that run on it (also after an
    upsampling of the pixel, which holds no more than the pixel) are counted, 1×1 convs are not."""
    spec = load(SE.replace("TAIL", tail))
    warns = [w for w in spec.warnings if w.code == "spatial-collapse"]
    assert len(warns) == 1
    assert f"yet {n} later layer" in warns[0].message


def test_a_collapse_whose_map_is_restored_by_a_merge_is_quiet(load):
    """A 1×1 map added onto a full map (broadcast) is a gate, not a collapse."""
    spec = load("""
archspec: 1
name: t
inputs: {x: [8, 8, 4]}
model:
  - conv2d: {filters: 4, kernel: 3, padding: same, name: full}
  - global_max_pool: {keepdims: true, name: pooled}
  - add: {from: [full, pooled]}
  - conv2d: {filters: 4, kernel: 3, padding: same}
""")
    assert "spatial-collapse" not in codes(spec)


def test_efficientnet_b0_is_quiet():
    """Sixteen squeeze-and-excitation blocks, none a collapse."""
    import archspec

    path = SPECS / "efficientnet_b0.yaml"
    if not path.exists():
        pytest.skip("no EfficientNet-B0 spec")
    assert "spatial-collapse" not in codes(archspec.load(path))
