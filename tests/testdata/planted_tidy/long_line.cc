// Planted for //tests:tidy_test: the line after `clang-format off` is 101 columns and must be
// reported (clang-format is told to leave it alone, so only the column check can catch it); the
// next is 100 characters (multi-byte ones) and must not be. Never compiled.
// clang-format off
int kTooWide = 1;  // xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
// clang-format on
int kJustFits = 1;  // ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
