// The adaptive waiting policy (native/shm/spin_policy.h) as pure functions: the mode for a
// runnable count, how the budget moves after caught / missed / hopeless waits, its bounds, the
// no-adaptation setting, and the /proc/loadavg parser. No timing: every input is a number.
// python/tests/test_spin_policy.py checks the Python copy against the same table.
// Exit status is non-zero when any CHECK failed.
#include <cstdio>

#include "shm/spin_policy.h"
#include "tests/check.h"

using namespace onet::shm;

int main() {
  // Modes: spare cores -> busy; one extra runnable -> yield; more -> sleep at once.
  CHECK(spin_mode(1, 2) == SpinMode::busy);
  CHECK(spin_mode(2, 2) == SpinMode::busy);
  CHECK(spin_mode(3, 2) == SpinMode::yield);  // n = 2 ranks + progress thread on 2 cores
  CHECK(spin_mode(5, 2) == SpinMode::sleep);  // n = 4 ranks + progress thread on 2 cores
  CHECK(spin_mode(17, 2) == SpinMode::sleep);
  CHECK(spin_mode(0, 0) == SpinMode::busy);  // cores < 1 taken as 1
  CHECK(spin_mode(2, 0) == SpinMode::yield);
  CHECK(spin_plan(300, 5, 2).spin_us == 0 && spin_plan(300, 5, 2).mode == SpinMode::sleep);
  CHECK(spin_plan(300, 2, 2).spin_us == 300 && spin_plan(300, 3, 2).mode == SpinMode::yield);

  const SpinLimits lim{2, 1000};
  // Caught while spinning: grows by a quarter (+1), never past the cap.
  CHECK(spin_update(100, 10, true, lim) == 126);
  CHECK(spin_update(900, 10, true, lim) == 1000);
  // Missed but within the cap: 1.5x the wait (spinning that long would have caught it).
  CHECK(spin_update(50, 400, false, lim) == 600);
  CHECK(spin_update(50, 900, false, lim) == 1000);
  // Missed by a wait shorter than 1.5x budget: still grows (the sleep cost more than the spin).
  CHECK(spin_update(500, 510, false, lim) == 765);
  // Longer than the cap: halves, down to the floor.
  CHECK(spin_update(800, 5000, false, lim) == 400);
  CHECK(spin_update(3, 5000, false, lim) == 2);
  // Repeated hopeless waits drive it to the floor; repeated short caught waits to the cap.
  int64_t b = 1000;
  for (int i = 0; i < 20; ++i) b = spin_update(b, 100000, false, lim);
  CHECK(b == lim.min_us);
  for (int i = 0; i < 40; ++i) b = spin_update(b, 1, true, lim);
  CHECK(b == lim.max_us);
  // From the floor, one wait of 80 us that slept brings the budget to where it is caught.
  CHECK(spin_update(2, 80, false, lim) == 120);
  // max_us = 0: adaptation off, the configured budget stays whatever happens.
  const SpinLimits off{2, 0};
  CHECK(spin_update(50, 1, true, off) == 50 && spin_update(50, 100000, false, off) == 50);

  // /proc/loadavg parsing.
  CHECK(parse_runnable("0.30 1.07 1.76 3/103 10298\n") == 3);
  CHECK(parse_runnable("12.60 7.71 4.31 17/195 24482") == 17);
  CHECK(parse_runnable("0.30 1.07 1.76") == -1);
  CHECK(parse_runnable("") == -1);
  CHECK(parse_runnable("a b c x/1 2") == -1);
  CHECK(read_runnable() >= 1 || read_runnable() == -1);  // this process is running: >= 1 where /proc exists

  LoadSampler s;
  CHECK(s.cores >= 1);
  int r1 = s.sample(0);
  CHECK(r1 >= 1);
  CHECK(s.sample(1000) == r1);  // within 5 ms: no new read, same value

  return onet::test::check_summary("spin_policy_test");
}
