//! The transfer task's parts that need no network: the windows a fetch asks for.

use tern_blob::{GroupSet, wire::MAX_RANGES};

use super::{FIRST_WINDOW_GROUPS, WINDOW_GROUPS, fetch::window};

#[test]
fn a_window_is_the_first_missing_groups_within_the_range_limit() {
    // A short first window, so that a player starts early; whole ones after it.
    assert_eq!(
        window(&GroupSet::all(10_000)),
        GroupSet::from_ranges(std::iter::once(0..FIRST_WINDOW_GROUPS))
    );
    let after_the_first = GroupSet::from_ranges(std::iter::once(FIRST_WINDOW_GROUPS..10_000));
    assert_eq!(
        window(&after_the_first),
        GroupSet::from_ranges(std::iter::once(
            FIRST_WINDOW_GROUPS..FIRST_WINDOW_GROUPS + WINDOW_GROUPS
        ))
    );
    assert_eq!(window(&GroupSet::all(3)), GroupSet::all(3));
    // Ranges left by a resumed download are taken in order until the window is full.
    let holes = GroupSet::from_ranges([5..10, 20..400, 500..600]);
    assert_eq!(
        window(&holes),
        GroupSet::from_ranges([5..10, 20..(20 + WINDOW_GROUPS - 5)])
    );
    // Never more ranges than a request may hold, however scattered the holes.
    let scattered = GroupSet::from_ranges((0..200u64).map(|i| i * 2..i * 2 + 1));
    let asked = window(&scattered);
    assert_eq!(asked.ranges().len(), MAX_RANGES);
    assert!(scattered.contains_all(&asked));
}
