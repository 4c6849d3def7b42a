//! Disk trouble: the broker's data directory sits on a small tmpfs this test mounts (as root;
//! elsewhere the test says it cannot and passes, but CI runs as root and must mount it). When
//! the file system fills up, produce requests fail with KAFKA_STORAGE_ERROR, everything
//! acknowledged stays readable, and writes succeed again as soon as space is freed, also
//! across a restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use compat_tests::SpawnedBroker;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset};

const TMPFS_SIZE: &str = "8m";
/// Space left free beside the filler file when the test starts producing.
const HEADROOM_BYTES: u64 = 400 * 1024;
const MESSAGE_BYTES: usize = 1024;

/// A tmpfs mounted on a temporary directory; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn available_bytes(&self) -> u64 {
        let path = std::ffi::CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stats) }, 0);
        stats.f_bavail as u64 * stats.f_frsize as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system but for `HEADROOM_BYTES`.
fn fill(tmpfs: &Tmpfs) -> PathBuf {
    let filler = tmpfs.path().join("filler");
    let size = tmpfs.available_bytes().saturating_sub(HEADROOM_BYTES);
    std::fs::write(&filler, vec![0u8; size as usize]).expect("filler");
    filler
}

#[tokio::test]
async fn a_full_disk_fails_produce_with_storage_errors_and_recovers_when_space_returns() {
    let Some(tmpfs) = Tmpfs::mount() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "mounting a tmpfs failed: CI must run as root"
        );
        eprintln!("cannot mount a tmpfs here (not root?); skipping the disk-full test");
        return;
    };
    let data_dir = tmpfs.path().join("data");
    let config = "\"log.segment.bytes\" = 131072\n\"num.partitions\" = 1";
    let mut broker = SpawnedBroker::start_in(&data_dir, config);
    let producer = producer(
        &broker,
        &[
            ("message.send.max.retries", "0"),
            ("message.timeout.ms", "10000"),
            ("linger.ms", "0"),
        ],
    );
    // Create the topic while there is room, then take the room away.
    produce(&producer, "full", Some(0), 1).await;
    let filler = fill(&tmpfs);

    let payload = vec![b'p'; MESSAGE_BYTES];
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for i in 0..2000 {
        let key = format!("key-{i}");
        let sent = producer
            .send(
                FutureRecord::to("full")
                    .key(&key)
                    .payload(&payload)
                    .partition(0),
                TIMEOUT,
            )
            .await;
        match sent {
            Ok(delivery) => acknowledged.push((delivery.offset, key)),
            Err((error, _)) => {
                refusal = Some(error);
                break;
            }
        }
    }
    let refusal = refusal.expect("the full file system refused a write");
    assert!(
        matches!(
            &refusal,
            KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError)
        ),
        "{refusal:?}"
    );
    assert!(
        !acknowledged.is_empty(),
        "some writes fit before the disk filled"
    );

    // Space comes back: writes succeed again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let after = produce(&producer, "full", Some(0), 20).await;
    assert_eq!(after.len(), 20);

    let check = |broker: &SpawnedBroker| {
        let total = after.last().unwrap().1 as usize + 1;
        let messages = consume(broker, "full", 0, Offset::Beginning, total);
        for (offset, key) in &acknowledged {
            let message = messages
                .iter()
                .find(|message| message.offset() == *offset)
                .unwrap_or_else(|| panic!("acknowledged offset {offset} missing"));
            assert_eq!(&text(message.key()), key);
            assert_eq!(message.payload().map(<[u8]>::len), Some(MESSAGE_BYTES));
        }
        assert!(messages
            .windows(2)
            .all(|pair| pair[0].offset() < pair[1].offset()));
    };
    check(&broker);
    broker.stop();
    broker.restart();
    check(&broker);
    broker.stop();
}
