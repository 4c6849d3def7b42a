//! The process's open-file limit. Every segment keeps its `.log`, `.index` and `.timeindex`
//! open, so a broker needs three descriptors per segment plus one per connection; shells and
//! service managers often start processes with a soft limit of 1 024, which a topic of a few
//! hundred partitions exhausts. At start the broker raises its soft limit to the hard one.

use std::io;

/// Never ask for more than this, even when the hard limit is unlimited (the kernel refuses
/// values above `fs.nr_open`, 1 048 576 by default).
const OPEN_FILES_MAX: libc::rlim_t = 1 << 20;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit before and after.
pub fn raise_limit() -> io::Result<(libc::rlim_t, libc::rlim_t)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit that getrlimit fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    let target = limit.rlim_max.min(OPEN_FILES_MAX);
    if before >= target {
        return Ok((before, before));
    }
    limit.rlim_cur = target;
    // SAFETY: `limit` is a valid rlimit whose soft value does not exceed its hard value.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((before, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let (_, after) = raise_limit().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, after);
        assert!(after >= limit.rlim_max.min(OPEN_FILES_MAX));
    }
}
