// A main() for replaying a fuzz target's corpus without libFuzzer: calls LLVMFuzzerTestOneInput
// once per file, in sorted name order, so every seed and every regression input of a target runs
// in plain `bazel test //...` (gcc included). A target that crashes, asserts or trips a sanitizer
// on any file kills this process and fails the test; so does an empty or missing corpus (a
// replay of nothing would pass vacuously).
//
// Usage: <test> DIR_OR_FILE...   (the cc_test passes fuzz/corpus/<target>).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::filesystem::path> CorpusFiles(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; i++) {
    const std::filesystem::path path(argv[i]);
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (std::filesystem::is_regular_file(path)) {
      files.push_back(path);
    } else {
      std::fprintf(stderr, "corpus_runner: %s is neither a file nor a directory\n", argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::filesystem::path> files = CorpusFiles(argc, argv);
  if (files.empty()) {
    std::fprintf(stderr, "corpus_runner: no corpus files: a replay of nothing proves nothing\n");
    return 1;
  }
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "corpus_runner: cannot read %s\n", file.c_str());
      return 1;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    std::fprintf(stderr, "corpus_runner: %s (%zu bytes)\n", file.c_str(), bytes.size());
    // Copied into an exact-size heap buffer, as libFuzzer does, so ASan sees reads past the end.
    std::vector<uint8_t> input(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::fprintf(stderr, "corpus_runner: %zu inputs replayed, none crashed\n", files.size());
  return 0;
}
