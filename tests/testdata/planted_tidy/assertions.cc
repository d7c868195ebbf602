// Planted for tidy_test: with the other planted files, 4 assertions over 6 functions (0.67 per
// function): reported under a floor of 0.7, not under 0.6. Never compiled.
int Checked(int x) {
  MERIDIAN_CHECK(x > 0);
  MERIDIAN_CHECK(x < 100, "x = {}", x);
  return x;
}

int AlsoChecked(int x) {
  MERIDIAN_CHECK(x != 3);
  if (x == 4) MERIDIAN_UNREACHABLE("four");
  return x;
}
