//! Request framing: an i32 size, then that many bytes. The size is checked before anything is
//! allocated for the body.

use thiserror::Error;

use crate::protocol::REQUEST_HEADER_MIN_BYTES;

/// Why a frame's size is refused; the connection is closed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("negative frame size {0}")]
    Negative(i32),
    #[error("frame size {0} is smaller than a request header")]
    TooSmall(i32),
    #[error("frame size {size} exceeds socket.request.max.bytes {max}")]
    TooLarge { size: i32, max: usize },
}

/// Validates the 4-byte size prefix of a request frame.
pub fn read_frame_size(prefix: [u8; 4], max_bytes: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    if (size as usize) < REQUEST_HEADER_MIN_BYTES {
        return Err(FrameError::TooSmall(size));
    }
    if size as usize > max_bytes {
        return Err(FrameError::TooLarge {
            size,
            max: max_bytes,
        });
    }
    Ok(size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        assert_eq!(
            read_frame_size((-1i32).to_be_bytes(), 100),
            Err(FrameError::Negative(-1))
        );
        assert_eq!(
            read_frame_size(3i32.to_be_bytes(), 100),
            Err(FrameError::TooSmall(3))
        );
        assert_eq!(
            read_frame_size(101i32.to_be_bytes(), 100),
            Err(FrameError::TooLarge {
                size: 101,
                max: 100
            })
        );
        assert_eq!(read_frame_size(100i32.to_be_bytes(), 100), Ok(100));
    }
}
