// Selector: Python slices (checked against CPython's algorithm written out in test_util.hpp and
// against literal Python results), integer lists with repeats, unsorted and negative positions,
// boolean masks, and the errors for each.
#include "tessera/core/selector.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "test_util.hpp"

namespace tessera {
namespace {

using test::python_slice;
using V = std::vector<index_t>;
using Opt = std::optional<index_t>;
constexpr Opt None = std::nullopt;

TEST(Selector, AllIsIdentity) {
  const Selector s;
  EXPECT_EQ(s.kind(), Selector::Kind::all);
  EXPECT_TRUE(s.is_all());
  EXPECT_TRUE(Selector::all().is_all());
  EXPECT_EQ(s.resolve(5), (V{0, 1, 2, 3, 4}));
  EXPECT_EQ(s.resolve(0), V{});
  EXPECT_TRUE(s.is_identity(5));
}

TEST(Selector, SliceLiteralPythonResults) {
  // Each expectation is list(range(10))[...] as printed by Python.
  EXPECT_EQ(Selector::slice(None, None, -3).resolve(10), (V{9, 6, 3, 0}));  // [::-3]
  EXPECT_EQ(Selector::slice(-3, None).resolve(10), (V{7, 8, 9}));           // [-3:]
  EXPECT_EQ(Selector::slice(8, 2, -2).resolve(10), (V{8, 6, 4}));           // [8:2:-2]
  EXPECT_EQ(Selector::slice(-100, 100).resolve(10), (V{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(Selector::slice(5, -100, -1).resolve(10), (V{5, 4, 3, 2, 1, 0}));        // [5:-100:-1]
  EXPECT_EQ(Selector::slice(None, -1).resolve(10), (V{0, 1, 2, 3, 4, 5, 6, 7, 8}));  // [:-1]
  EXPECT_EQ(Selector::slice(-1, -4, -1).resolve(10), (V{9, 8, 7}));                  // [-1:-4:-1]
  EXPECT_EQ(Selector::slice(100, None, -4).resolve(10), (V{9, 5, 1}));               // [100::-4]
  EXPECT_EQ(Selector::slice(3, 3).resolve(10), V{});                                 // [3:3]
  EXPECT_EQ(Selector::slice(2, 8, -1).resolve(10), V{});                             // [2:8:-1]
  EXPECT_EQ(Selector::slice(1, None, 4).resolve(10), (V{1, 5, 9}));                  // [1::4]
  EXPECT_EQ(Selector::slice(None, None, -1).resolve(0), V{});                        // [][::-1]
}

TEST(Selector, SliceMatchesCPythonOnEveryCombination) {
  std::vector<Opt> bounds = {None};
  for (index_t b = -13; b <= 13; ++b)
    bounds.emplace_back(b);
  const std::vector<Opt> steps = {None, 1, 2, 3, 7, -1, -2, -3, -7};
  for (index_t length : {0, 1, 2, 5, 10}) {
    for (const Opt& start : bounds) {
      for (const Opt& stop : bounds) {
        for (const Opt& step : steps) {
          const Selector s = Selector::slice(start, stop, step);
          EXPECT_EQ(s.kind(), Selector::Kind::slice);
          ASSERT_EQ(s.resolve(length), python_slice(length, start, stop, step))
              << "length " << length << " slice(" << (start ? std::to_string(*start) : "None")
              << ", " << (stop ? std::to_string(*stop) : "None") << ", "
              << (step ? std::to_string(*step) : "None") << ")";
        }
      }
    }
  }
}

TEST(Selector, SliceStepZeroThrowsValueError) {
  // Python raises at slice use; Tessera may raise when the slice is made or resolved.
  TESSERA_EXPECT_THROW_MENTIONING((void)Selector::slice(0, 5, 0).resolve(10), ValueError, "step");
  TESSERA_EXPECT_THROW_MENTIONING((void)Selector::slice(None, None, 0).resolve(0), ValueError,
                                  "step");
}

TEST(Selector, SliceIdentity) {
  EXPECT_TRUE(Selector::slice(None, None).is_identity(7));
  EXPECT_TRUE(Selector::slice(0, 7, 1).is_identity(7));
  EXPECT_TRUE(Selector::slice(-100, 100).is_identity(7));
  EXPECT_FALSE(Selector::slice(None, None, -1).is_identity(7));
  EXPECT_FALSE(Selector::slice(1, None).is_identity(7));
  EXPECT_FALSE(Selector::slice(None, None, 2).is_identity(7));
  EXPECT_TRUE(Selector::slice(None, None, 2).is_identity(1));
}

TEST(Selector, TakeKeepsOrderRepeatsAndCountsNegativesFromTheEnd) {
  const Selector s = Selector::take({4, 0, 4, -1, 2, -5, 2});
  EXPECT_EQ(s.kind(), Selector::Kind::take);
  EXPECT_EQ(s.resolve(5), (V{4, 0, 4, 4, 2, 0, 2}));
  EXPECT_EQ(Selector::take({}).resolve(5), V{});
  EXPECT_EQ(Selector::take({0}).resolve(1), V{0});
  EXPECT_EQ(Selector::take({-1}).resolve(1), V{0});
}

TEST(Selector, TakeIdentity) {
  EXPECT_TRUE(Selector::take({0, 1, 2}).is_identity(3));
  EXPECT_TRUE(Selector::take({-3, -2, -1}).is_identity(3));
  EXPECT_FALSE(Selector::take({0, 1, 2}).is_identity(4));
  EXPECT_FALSE(Selector::take({0, 0, 1}).is_identity(3));
  EXPECT_FALSE(Selector::take({1, 0, 2}).is_identity(3));
}

TEST(Selector, TakeOutOfRangeThrowsIndexError) {
  TESSERA_EXPECT_THROW_MENTIONING((void)Selector::take({0, 1234}).resolve(10), IndexError, "1234",
                                  "out of range", "bounds");
  TESSERA_EXPECT_THROW_MENTIONING((void)Selector::take({10}).resolve(10), IndexError, "10",
                                  "out of range", "bounds");
  TESSERA_EXPECT_THROW_MENTIONING((void)Selector::take({-11}).resolve(10), IndexError, "-11",
                                  "out of range", "bounds");
  TESSERA_EXPECT_THROW_MENTIONING((void)Selector::take({0}).resolve(0), IndexError, "0",
                                  "out of range", "bounds");
  EXPECT_NO_THROW((void)Selector::take({-10, 9}).resolve(10));
}

TEST(Selector, MaskSelectsTruePositions) {
  const Selector s = Selector::mask(std::vector<bool>{true, false, false, true, true, false});
  EXPECT_EQ(s.kind(), Selector::Kind::mask);
  EXPECT_EQ(s.resolve(6), (V{0, 3, 4}));
  EXPECT_EQ(Selector::mask(std::vector<bool>(4, false)).resolve(4), V{});
  EXPECT_TRUE(Selector::mask(std::vector<bool>(4, true)).is_identity(4));
  EXPECT_FALSE(Selector::mask(std::vector<bool>{true, false}).is_identity(2));
}

TEST(Selector, MaskOfTheWrongLengthThrowsIndexError) {
  const Selector s = Selector::mask(std::vector<bool>{true, false, true});
  TESSERA_EXPECT_THROW_MENTIONING((void)s.resolve(4), IndexError, "mask", "length");
  TESSERA_EXPECT_THROW_MENTIONING((void)s.resolve(2), IndexError, "mask", "length");
}

TEST(Selector, MaskFromABoolChunkOfEitherOrientation) {
  const Chunk column = test::bool_chunk(Shape{5, 1}, {false, true, true, false, true});
  EXPECT_EQ(Selector::mask(column).resolve(5), (V{1, 2, 4}));
  const Chunk row = test::bool_chunk(Shape{1, 5}, {true, false, false, false, true});
  EXPECT_EQ(Selector::mask(row).resolve(5), (V{0, 4}));
  TESSERA_EXPECT_THROW_MENTIONING((void)Selector::mask(row).resolve(6), IndexError, "mask",
                                  "length");
}

}  // namespace
}  // namespace tessera
