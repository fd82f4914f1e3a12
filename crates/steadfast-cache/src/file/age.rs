//! How old a snapshot is, by the wall clock, and the deadlines it is
//! served with.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::format::Header;
use super::settings::Restore;

/// `at` as unix milliseconds (zero before the epoch).
pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The deadlines, on this process's clock, of an entry another store wrote
/// at `header.written_ms` and read at `wall_ms` (`now`): never fresh, and
/// served as `restore` says. `None` when it is past its last window. A
/// wall clock now behind the write's counts as no time passed.
pub(crate) fn restored(
    header: &Header,
    wall_ms: u64,
    now: Instant,
    restore: Restore,
) -> Option<(Instant, Instant, Instant)> {
    let age = wall_ms.saturating_sub(header.written_ms);
    let at = |end_ms: u64| match end_ms.checked_sub(age) {
        Some(left) if left > 0 => now.checked_add(Duration::from_millis(left)),
        _ => Some(now),
    };
    let expires_at = at(header.expires_ms)?;
    if expires_at <= now {
        return None;
    }
    let revalidate_until = match restore {
        Restore::Revalidate => expires_at,
        Restore::KeepWindows => at(header.revalidate_ms)?.max(now),
    };
    Some((now, revalidate_until, expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            written_ms: 1_000_000,
            fresh_ms: 10_000,
            revalidate_ms: 20_000,
            expires_ms: 60_000,
            writer: 1,
            seq: 1,
        }
    }

    #[test]
    fn a_restored_entry_is_never_fresh_and_ages_from_its_write() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let h = header();
        assert_eq!(
            restored(&h, 1_005_000, now, Restore::Revalidate),
            Some((now, now + ms(55_000), now + ms(55_000)))
        );
        assert_eq!(
            restored(&h, 1_005_000, now, Restore::KeepWindows),
            Some((now, now + ms(15_000), now + ms(55_000)))
        );
        assert_eq!(
            restored(&h, 1_030_000, now, Restore::KeepWindows),
            Some((now, now, now + ms(30_000)))
        );
        assert_eq!(restored(&h, 1_060_000, now, Restore::Revalidate), None);
        assert_eq!(restored(&h, u64::MAX, now, Restore::Revalidate), None);
    }

    #[test]
    fn a_clock_gone_back_counts_as_no_time_passed() {
        let now = Instant::now();
        let h = header();
        assert_eq!(
            restored(&h, 0, now, Restore::KeepWindows),
            Some((
                now,
                now + Duration::from_secs(20),
                now + Duration::from_secs(60)
            ))
        );
    }
}
