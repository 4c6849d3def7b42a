//! Writes a range of a segment file to a client socket: with sendfile(2), so the records go
//! from the page cache to the socket without entering the broker's memory, or, where the file
//! system cannot do that, through one bounded buffer.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::file_slice::FileSlice;

/// Most bytes one sendfile(2) call transfers on Linux.
const SENDFILE_MAX_BYTES: u64 = 0x7fff_f000;
/// Buffer of the copying fallback.
const COPY_BUFFER_BYTES: u64 = 256 * 1024;

/// Why [`send_file`] stopped.
#[derive(Debug)]
pub enum SendFileError {
    /// sendfile(2) refused the file before sending anything: copy it instead.
    Unsupported,
    Io(io::Error),
}

/// Sends all of `slice` to `socket` with sendfile(2).
pub async fn send_file(socket: &TcpStream, slice: &FileSlice) -> Result<(), SendFileError> {
    let end = slice.position() + slice.len();
    let mut offset = slice.position() as libc::off_t;
    while (offset as u64) < end {
        let count = (end - offset as u64).min(SENDFILE_MAX_BYTES) as usize;
        socket.writable().await.map_err(SendFileError::Io)?;
        let sent = socket.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors stay open for the call (`socket` and `slice` are
            // borrowed) and `offset` is a live off_t that the call advances.
            let sent = unsafe {
                libc::sendfile(
                    socket.as_raw_fd(),
                    slice.file().as_raw_fd(),
                    &mut offset,
                    count,
                )
            };
            if sent < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(sent as usize)
            }
        });
        match sent {
            Ok(0) => {
                return Err(SendFileError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file ended inside the range being sent",
                )))
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error)
                if offset as u64 == slice.position()
                    && matches!(
                        error.raw_os_error(),
                        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                    ) =>
            {
                return Err(SendFileError::Unsupported)
            }
            Err(error) => return Err(SendFileError::Io(error)),
        }
    }
    Ok(())
}

/// Copies all of `slice` to `writer` through one buffer of at most 256 KiB.
pub async fn copy_file<W: AsyncWrite + Unpin>(writer: &mut W, slice: &FileSlice) -> io::Result<()> {
    let mut buffer = vec![0u8; slice.len().min(COPY_BUFFER_BYTES) as usize];
    let end = slice.position() + slice.len();
    let mut position = slice.position();
    while position < end {
        let chunk = &mut buffer[..(end - position).min(COPY_BUFFER_BYTES) as usize];
        slice.file().read_exact_at(chunk, position)?;
        writer.write_all(chunk).await?;
        position += chunk.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    fn slice_of(content: &[u8], position: u64, len: u64) -> FileSlice {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(content).unwrap();
        FileSlice::new(Arc::new(file), position, len)
    }

    /// More than a socket buffer holds, so sendfile meets a full socket and must wait.
    #[tokio::test]
    async fn sends_the_range_through_a_full_socket() {
        let content: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        let slice = slice_of(&content, 1000, content.len() as u64 - 2000);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let ((server, _), client) =
            tokio::join!(async { listener.accept().await.unwrap() }, async {
                client.await.unwrap()
            });
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut received = Vec::new();
            client.read_to_end(&mut received).await.unwrap();
            received
        });
        match send_file(&server, &slice).await {
            Ok(()) => {}
            Err(error) => panic!("sendfile failed: {error:?}"),
        }
        drop(server);
        assert_eq!(reader.await.unwrap(), &content[1000..content.len() - 1000]);
    }

    #[tokio::test]
    async fn a_range_past_the_end_of_the_file_is_an_error() {
        let slice = slice_of(b"short", 0, 100);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert!(matches!(
            send_file(&server, &slice).await,
            Err(SendFileError::Io(error)) if error.kind() == io::ErrorKind::UnexpectedEof
        ));
    }

    #[tokio::test]
    async fn copying_sends_the_same_bytes() {
        let content: Vec<u8> = (0..700_000).map(|i: u32| (i % 253) as u8).collect();
        let slice = slice_of(&content, 5, content.len() as u64 - 10);
        let mut out = Vec::new();
        copy_file(&mut out, &slice).await.unwrap();
        assert_eq!(out, &content[5..content.len() - 5]);
    }
}
