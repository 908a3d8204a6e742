// The encodings that anndata 0.8 cannot write itself, through both backends (HDF5 file, zarr in
// memory): nullable strings (with na-value), null, rec-arrays (numeric, sub-array and string
// fields), elements kept as stored (awkward arrays), data frames in obsm/varm, numeric categories,
// unknown encodings (error or --skip-unknown), and the storage floor's compound fields, null
// elements and object-reference paths as the encoding layer sees them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/io/anndata_io.hpp"
#include "tessera/io/hdf5_file.hpp"
#include "tessera/io/zarr_store.hpp"

namespace tessera::io {
namespace {

enum class Backend { hdf5, zarr };

struct Store {
  std::filesystem::path path;
  std::shared_ptr<MemoryStore> memory;
  std::unique_ptr<Group> create(Backend b) {
    if (b == Backend::zarr) {
      memory = std::make_shared<MemoryStore>();
      return create_zarr(memory, "memory.zarr");
    }
    path = std::filesystem::temp_directory_path() /
           ("tessera-encodings-" + std::to_string(::getpid()) + ".h5ad");
    std::filesystem::remove(path);
    return create_h5(path.string());
  }
  std::shared_ptr<const Group> open(Backend b) const {
    if (b == Backend::zarr) return open_zarr(memory, "memory.zarr", false);
    return open_h5(path.string(), false);
  }
  ~Store() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove(path, ignored);
  }
};

class Encodings : public ::testing::TestWithParam<Backend> {};

AnnData example() {
  AnnData a(DataFrame({"c0", "c1", "c2"}, "obs"), DataFrame({"g0", "g1"}, "var"));
  a.obs().set("name", Column::nullable_strings({"x", "", "zé"}, {false, true, false}, "NA"));
  a.obs().set("plain", Column::nullable_strings({"a", "b", "c"}, {false, false, false}));
  a.obs().set("level",
              Column::categorical_from_codes(Chunk::from_values<std::int16_t>({3, 1}, {1, -1, 0}),
                                             Column::from<double>({0.5, 2.5}), true));
  DataFrame frame({"c0", "c1", "c2"}, "obsm");
  frame.set("score", Column::from<float>({1.5F, -2.0F, 0.0F}));
  frame.set("kind", Column::strings({"p", "q", "p"}));
  a.obsm().set("df", std::move(frame));
  a.obsm().set("pca", Chunk::from_values<double>({3, 2}, {1, 2, 3, 4, 5, 6}));
  RecArray records;
  records.length = 2;
  records.fields.push_back(
      RecField{"score", Chunk::from_values<float>({2, 1}, {0.25F, -1.0F}), {}});
  records.fields.push_back(
      RecField{"pair", Chunk::from_values<std::int32_t>({2, 2}, {1, 2, 3, 4}), {}});
  records.fields.push_back(RecField{"gene", std::nullopt, {"CD3E", "Ünï"}});
  a.uns().set("names", records);
  a.uns().set("nothing", Null{});
  StoredElement ak;
  ak.is_group = true;
  ak.attributes =
      R"({"encoding-type":"awkward-array","encoding-version":"0.1.0","form":"{}","length":3})";
  ak.encoding = "awkward-array 0.1.0";
  ak.length = 3;
  StoredElement offsets;
  offsets.values = NdArray::vector<std::int64_t>({0, 1, 1, 3});
  StoredElement data;
  data.values = NdArray::vector<double>({7.0, 8.0, 9.0});
  ak.children = {{"node0-offsets", offsets}, {"node1-data", data}};
  a.obsm().set("ak", ak);
  a.uns().set("kept", ak);
  return a;
}

TEST_P(Encodings, RoundTripKeepsEveryEncoding) {
  Store store;
  {
    auto root = store.create(GetParam());
    write_anndata(*root, example());
  }
  const AnnData back = read_anndata(store.open(GetParam()));
  const AnnData want = example();
  EXPECT_EQ(back.obs(), want.obs());
  const Column& name = back.obs()["name"];
  ASSERT_EQ(name.kind(), ColumnKind::nullable_string);
  EXPECT_EQ(name.na_value(), "NA");
  EXPECT_TRUE(name.is_missing(1));
  EXPECT_EQ(name.text_at(2), "zé");
  EXPECT_EQ(back.obs()["plain"].na_value(), "");
  const Column& level = back.obs()["level"];
  ASSERT_EQ(level.kind(), ColumnKind::categorical);
  EXPECT_EQ(level.dtype(), DType::int16);
  EXPECT_EQ(level.number_at(0), 2.5);
  EXPECT_TRUE(level.ordered());
  // Both formats list children by name (as h5py and zarr-python do, so anndata too).
  EXPECT_EQ(back.obsm().keys(), (std::vector<std::string>{"ak", "df", "pca"}));
  ASSERT_TRUE(back.obsm().frames().contains("df"));
  EXPECT_EQ(back.obsm().frames().at("df"), want.obsm().frames().at("df"));
  EXPECT_EQ(back.uns().at("names").as<RecArray>(), want.uns().at("names").as<RecArray>());
  EXPECT_TRUE(back.uns().at("nothing").holds<Null>());
  ASSERT_TRUE(back.obsm().stored().contains("ak"));
  const StoredElement& ak = back.obsm().stored().at("ak");
  EXPECT_EQ(ak.length, 3);
  ASSERT_EQ(ak.children.size(), 2U);
  EXPECT_EQ(ak.children[0].first, "node0-offsets");
  EXPECT_EQ(ak.children[0].second.values->data.value_at(0, 3), 3.0);
  EXPECT_EQ(ak.children[1].second.values->data.value_at(0, 2), 9.0);
  EXPECT_EQ(back.uns().at("kept").as<StoredElement>().children.size(), 2U);
}

TEST_P(Encodings, StoredLayout) {
  Store store;
  {
    auto root = store.create(GetParam());
    write_anndata(*root, example());
  }
  const auto root = store.open(GetParam());
  const auto obs = root->group("obs");
  const auto name = obs->group("name");
  EXPECT_EQ(name->attributes()["encoding-type"], "nullable-string-array");
  EXPECT_EQ(name->attributes()["na-value"], "NA");
  // Missing values are stored as "" (as anndata stores pandas' StringArray).
  EXPECT_EQ(name->read_strings("values"), (std::vector<std::string>{"x", "", "zé"}));
  const auto uns = root->group("uns");
  EXPECT_EQ(uns->attributes("nothing")["encoding-type"], "null");
  EXPECT_EQ(uns->attributes("names")["encoding-type"], "rec-array");
  const ArrayMeta meta = uns->array_meta("names");
  ASSERT_EQ(meta.fields.size(), 3U);
  EXPECT_EQ(meta.fields[1].name, "pair");
  EXPECT_EQ(meta.fields[1].count, 2);
  EXPECT_FALSE(meta.fields[2].dtype.has_value());
  const FieldValues pair = uns->read_field("names", "pair");
  ASSERT_TRUE(pair.values.has_value());
  EXPECT_EQ(pair.values->value_at(1, 0), 3.0);
  EXPECT_EQ(uns->read_field("names", "gene").strings, (std::vector<std::string>{"CD3E", "Ünï"}));
  EXPECT_THROW((void)uns->read_field("names", "absent"), FormatError);
  EXPECT_EQ(root->group("obsm")->group("ak")->attributes()["encoding-type"], "awkward-array");
}

TEST_P(Encodings, UnknownEncodingFailsOrIsDropped) {
  Store store;
  {
    auto root = store.create(GetParam());
    write_anndata(*root, example());
    auto uns = root->group("uns");
    uns->create_array("future", ArrayMeta{{2}, DType::int32, {2}}, Compression{});
    uns->set_attribute("encoding-type", "my-future-thing", "future");
    uns->set_attribute("encoding-version", "0.3.0", "future");
    auto obsm = root->group("obsm");
    obsm->create_group("later")->set_attribute("encoding-type", "tensor");
  }
  try {
    (void)read_anndata(store.open(GetParam()));
    FAIL() << "an unknown encoding was accepted";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    // The first unknown element met (obsm is read before uns), with its encoding.
    EXPECT_NE(message.find("/obsm/later"), std::string::npos) << message;
    EXPECT_NE(message.find("'tensor'"), std::string::npos) << message;
    EXPECT_NE(message.find("--skip-unknown"), std::string::npos) << message;
  }
  ReadOptions skip;
  skip.skip_unknown = true;
  std::vector<std::string> warnings;
  skip.warn = [&](const std::string& line) { warnings.push_back(line); };
  const AnnData back = read_anndata(store.open(GetParam()), skip);
  EXPECT_FALSE(back.uns().contains("future"));
  EXPECT_FALSE(back.obsm().has_key("later"));
  EXPECT_TRUE(back.uns().contains("names"));
  ASSERT_EQ(warnings.size(), 2U);
  EXPECT_NE(warnings[1].find("'my-future-thing' encoding-version '0.3.0'"), std::string::npos)
      << warnings[1];
}

TEST(EncodingsModel, ViewsSubsetFramesAndRefuseStoredElements) {
  AnnData a = example();
  EXPECT_THROW((void)a(AxisIndex(Selector::take({2, 0}))), ValueError);
  EXPECT_NO_THROW((void)a(AxisIndex(), AxisIndex(Selector::take({1}))));  // obs untouched
  a.obsm().erase("ak");
  const AnnData v = a(AxisIndex(Selector::take({2, 0})));
  const DataFrame& frame = v.obsm().frames().at("df");
  EXPECT_EQ(frame.index(), (std::vector<std::string>{"c2", "c0"}));
  EXPECT_EQ(frame["kind"].string_values(), (std::vector<std::string>{"p", "p"}));
  EXPECT_EQ(v.obsm().keys(), (std::vector<std::string>{"df", "pca"}));
  EXPECT_EQ(v.obs()["name"].text_at(0), "zé");
  EXPECT_EQ(v.obs()["name"].text_at(1), "x");
}

INSTANTIATE_TEST_SUITE_P(Backends, Encodings, ::testing::Values(Backend::hdf5, Backend::zarr),
                         [](const auto& info) {
                           return info.param == Backend::hdf5 ? std::string("hdf5") : "zarr";
                         });

}  // namespace
}  // namespace tessera::io
