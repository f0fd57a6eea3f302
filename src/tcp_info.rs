//! Reading `TCP_INFO`, lent to the library's reactor (`reactor::install_tcp_info`).
//!
//! The library forbids `unsafe`, and no safe wrapper exists: socket2 0.6 has no `tcp_info`
//! (rust-lang/socket2#362 is open), nor do rustix or the standard library, and `nix` would be
//! a whole new dependency for one call it does not wrap either. So the one `getsockopt` that
//! needs a pointer lives here, in the binary, beside `malloc.rs`, and nowhere else.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use evserve::session::inspect::TcpInfo;

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`, the fields `/connections` shows.
#[cfg(target_os = "linux")]
pub fn read(fd: BorrowedFd<'_>) -> io::Result<TcpInfo> {
    // SAFETY: `tcp_info` is plain integers, so all-zero bytes are a valid value. `getsockopt`
    // writes at most `len` bytes into `info` (a kernel with a shorter struct writes fewer and
    // the rest stay zero) and stores the length written in `len`; both outlive the call, and
    // `fd` is borrowed, so it stays open throughout.
    let (info, rc) = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast::<libc::c_void>(),
            &mut len,
        );
        (info, rc)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        state: info.tcpi_state,
        rtt_us: info.tcpi_rtt,
        rttvar_us: info.tcpi_rttvar,
        snd_cwnd: info.tcpi_snd_cwnd,
        snd_mss: info.tcpi_snd_mss,
        retransmits: info.tcpi_retransmits,
        unacked: info.tcpi_unacked,
        total_retrans: info.tcpi_total_retrans,
    })
}

/// Elsewhere `struct tcp_info` differs (FreeBSD) or does not exist: not read.
#[cfg(not(target_os = "linux"))]
pub fn read(_fd: BorrowedFd<'_>) -> io::Result<TcpInfo> {
    Err(io::ErrorKind::Unsupported.into())
}
