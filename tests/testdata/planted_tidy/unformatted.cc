// Planted for //tests:tidy_test: not clang-format clean. Never compiled.
int  Unformatted( int x ){return x;}
