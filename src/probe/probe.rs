//! gantry-probe: the healthcheck program gantry adds to images that have no shell, curl or wget.
//!
//!     gantry-probe [--timeout DURATION] http://HOST[:PORT][/PATH]
//!     gantry-probe [--timeout DURATION] tcp HOST:PORT        (or tcp://HOST:PORT)
//!
//! Exit 0 when the server answers 2xx/3xx (http) or accepts the connection (tcp), 1 otherwise
//! (refused, timed out, other status), 2 on a usage error. HOST is numeric IPv4, `[IPv6]` or
//! `localhost` (127.0.0.1): a healthcheck runs in the container's own network namespace, so no
//! DNS, no TLS. DURATION is `5s` (the default), `500ms` or plain seconds.
//!
//! No libc and no std: raw Linux system calls, so the same few kilobytes run on scratch,
//! distroless, alpine or debian. Compiled by gantry from this file with
//! `rustc --target <triple> --edition 2021 -C panic=abort -C relocation-model=static …`;
//! it is not part of gantry's own crate.

#![no_std]
#![no_main]
// LLVM may not turn the loops below into calls of `memcpy`/`memset`/`strlen`: this program
// defines those itself.
#![no_builtins]

use core::arch::{asm, global_asm};

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const RT_SIGACTION: usize = 13;
    pub const SETITIMER: usize = 38;
    pub const SOCKET: usize = 41;
    pub const CONNECT: usize = 42;
    pub const EXIT_GROUP: usize = 231;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const CLOSE: usize = 57;
    pub const RT_SIGACTION: usize = 134;
    pub const SETITIMER: usize = 103;
    pub const SOCKET: usize = 198;
    pub const CONNECT: usize = 203;
    pub const EXIT_GROUP: usize = 94;
}

#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    asm!(
        "syscall",
        inlateout("rax") n as isize => ret,
        in("rdi") a,
        in("rsi") b,
        in("rdx") c,
        in("r10") d,
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack)
    );
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    asm!(
        "svc 0",
        in("x8") n,
        inlateout("x0") a as isize => ret,
        in("x1") b,
        in("x2") c,
        in("x3") d,
        options(nostack)
    );
    ret
}

// The kernel starts us with argc, argv[], NULL, envp[] on the stack; hand its address to `start`.
#[cfg(target_arch = "x86_64")]
global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {start}",
    "ud2",
    start = sym start,
);

#[cfg(target_arch = "aarch64")]
global_asm!(
    ".globl _start",
    "_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, sp",
    "bl {start}",
    "brk #0",
    start = sym start,
);

fn exit(code: i32) -> ! {
    loop {
        unsafe { syscall4(nr::EXIT_GROUP, code as usize, 0, 0, 0) };
    }
}

fn write_all(fd: usize, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        let n = unsafe { syscall4(nr::WRITE, fd, bytes.as_ptr() as usize, bytes.len(), 0) };
        if n == -4 {
            continue; // EINTR
        }
        if n <= 0 {
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

fn say(parts: &[&[u8]]) {
    write_all(2, b"gantry-probe: ");
    for p in parts {
        write_all(2, p);
    }
    write_all(2, b"\n");
}

// No libc: the few memory routines the compiler calls, byte by byte (the data is tiny).
#[no_mangle]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        *dst.add(i) = *src.add(i);
        i += 1;
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) {
        return memcpy(dst, src, n);
    }
    let mut i = n;
    while i > 0 {
        i -= 1;
        *dst.add(i) = *src.add(i);
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        *dst.add(i) = c as u8;
        i += 1;
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        let (x, y) = (*a.add(i), *b.add(i));
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    memcmp(a, b, n)
}

// `core` is precompiled with unwinding tables that name this; with panic=abort it never runs.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    say(&[b"internal error"]);
    exit(1)
}

/// Decimal digits of `n` into `buf`, returning the used tail.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

// ---- the overall deadline: SIGALRM ends the process with status 1 ----

#[repr(C)]
struct SigAction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

#[repr(C)]
struct ItimerVal {
    interval_sec: i64,
    interval_usec: i64,
    value_sec: i64,
    value_usec: i64,
}

const SIGALRM: usize = 14;
const SA_RESTORER: u64 = 0x0400_0000;
const ITIMER_REAL: usize = 0;

extern "C" fn on_alarm(_: i32) {
    say(&[b"timed out"]);
    exit(1)
}

// Never reached (the handler exits), but x86_64 refuses to deliver a signal without one.
extern "C" fn restorer() {
    exit(1)
}

fn arm_deadline(millis: u64) {
    let action = SigAction {
        handler: on_alarm as *const () as usize,
        flags: SA_RESTORER,
        restorer: restorer as *const () as usize,
        mask: 0,
    };
    let timer = ItimerVal {
        interval_sec: 0,
        interval_usec: 0,
        value_sec: (millis / 1000) as i64,
        value_usec: (millis % 1000 * 1000) as i64,
    };
    unsafe {
        let a = &action as *const SigAction as usize;
        syscall4(nr::RT_SIGACTION, SIGALRM, a, 0, 8);
        let t = &timer as *const ItimerVal as usize;
        syscall4(nr::SETITIMER, ITIMER_REAL, t, 0, 0);
    }
}

// ---- addresses ----

#[derive(Clone, Copy)]
enum Addr {
    V4([u8; 4], u16),
    V6([u8; 16], u16),
}

fn parse_u16(s: &[u8], radix: u32, max_digits: usize) -> Option<u16> {
    if s.is_empty() || s.len() > max_digits {
        return None;
    }
    let mut v: u32 = 0;
    for &c in s {
        let d = (c as char).to_digit(radix)?;
        v = v * radix + d;
        if v > 0xffff {
            return None;
        }
    }
    Some(v as u16)
}

fn parse_v4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split(|&c| c == b'.');
    for o in out.iter_mut() {
        let p = parts.next()?;
        let v = parse_u16(p, 10, 3)?;
        if v > 255 {
            return None;
        }
        *o = v as u8;
    }
    parts.next().is_none().then_some(out)
}

/// Hex groups separated by `:`, with at most one `::`.
fn parse_v6(s: &[u8]) -> Option<[u8; 16]> {
    let mut groups = [0u16; 8];
    let split = s.windows(2).position(|w| w == b"::");
    let (head, tail): (&[u8], &[u8]) = match split {
        Some(i) => (&s[..i], &s[i + 2..]),
        None => (s, &[]),
    };
    let mut n_head = 0;
    if !head.is_empty() {
        for g in head.split(|&c| c == b':') {
            if n_head == 8 {
                return None;
            }
            groups[n_head] = parse_u16(g, 16, 4)?;
            n_head += 1;
        }
    }
    let mut tail_groups = [0u16; 8];
    let mut n_tail = 0;
    if !tail.is_empty() {
        for g in tail.split(|&c| c == b':') {
            if n_tail == 8 {
                return None;
            }
            tail_groups[n_tail] = parse_u16(g, 16, 4)?;
            n_tail += 1;
        }
    }
    match split {
        None if n_head != 8 => return None,
        Some(_) if n_head + n_tail > 7 => return None,
        _ => {}
    }
    for i in 0..n_tail {
        groups[8 - n_tail + i] = tail_groups[i];
    }
    let mut out = [0u8; 16];
    for (i, g) in groups.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

/// `HOST[:PORT]` with HOST `localhost`, dotted IPv4 or `[IPv6]`.
fn parse_host_port(s: &[u8], default_port: Option<u16>) -> Option<Addr> {
    let (host, port): (&[u8], Option<&[u8]>) = if s.first() == Some(&b'[') {
        let end = s.iter().position(|&c| c == b']')?;
        let rest = &s[end + 1..];
        let port = match rest {
            [] => None,
            [b':', p @ ..] => Some(p),
            _ => return None,
        };
        (&s[..=end], port)
    } else {
        match s.iter().position(|&c| c == b':') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => parse_u16(p, 10, 5)?,
        None => default_port?,
    };
    if port == 0 {
        return None;
    }
    if host == b"localhost" {
        return Some(Addr::V4([127, 0, 0, 1], port));
    }
    if let [b'[', inner @ .., b']'] = host {
        return parse_v6(inner).map(|a| Addr::V6(a, port));
    }
    parse_v4(host).map(|a| Addr::V4(a, port))
}

// ---- sockets ----

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_STREAM: usize = 1;
const SOCK_CLOEXEC: usize = 0o2000000;

#[repr(C)]
struct SockaddrIn {
    family: u16,
    port: [u8; 2],
    addr: [u8; 4],
    zero: [u8; 8],
}

#[repr(C)]
struct SockaddrIn6 {
    family: u16,
    port: [u8; 2],
    flowinfo: u32,
    addr: [u8; 16],
    scope_id: u32,
}

/// A connected socket, or the errno of what failed.
fn connect(addr: Addr) -> Result<usize, isize> {
    let family = match addr {
        Addr::V4(..) => AF_INET,
        Addr::V6(..) => AF_INET6,
    };
    let fd = unsafe {
        syscall4(
            nr::SOCKET,
            family as usize,
            SOCK_STREAM | SOCK_CLOEXEC,
            0,
            0,
        )
    };
    if fd < 0 {
        return Err(-fd);
    }
    let fd = fd as usize;
    let ret = match addr {
        Addr::V4(a, port) => {
            let sa = SockaddrIn {
                family,
                port: port.to_be_bytes(),
                addr: a,
                zero: [0; 8],
            };
            let p = &sa as *const SockaddrIn as usize;
            unsafe { syscall4(nr::CONNECT, fd, p, core::mem::size_of::<SockaddrIn>(), 0) }
        }
        Addr::V6(a, port) => {
            let sa = SockaddrIn6 {
                family,
                port: port.to_be_bytes(),
                flowinfo: 0,
                addr: a,
                scope_id: 0,
            };
            let p = &sa as *const SockaddrIn6 as usize;
            unsafe { syscall4(nr::CONNECT, fd, p, core::mem::size_of::<SockaddrIn6>(), 0) }
        }
    };
    if ret < 0 {
        return Err(-ret);
    }
    Ok(fd)
}

fn connect_or_say(addr: Addr, shown: &[u8]) -> Option<usize> {
    match connect(addr) {
        Ok(fd) => Some(fd),
        Err(errno) => {
            let mut buf = [0u8; 20];
            let why: &[u8] = match errno {
                111 => b"connection refused",
                110 => b"timed out",
                101 | 113 => b"unreachable",
                _ => b"error",
            };
            say(&[
                b"cannot connect to ",
                shown,
                b": ",
                why,
                b" (errno ",
                decimal(errno as u64, &mut buf),
                b")",
            ]);
            None
        }
    }
}

fn tcp(target: &[u8]) -> i32 {
    let Some(addr) = parse_host_port(target, None) else {
        say(&[
            b"`",
            target,
            b"` is not HOST:PORT with a numeric or [IPv6] host",
        ]);
        return 2;
    };
    match connect_or_say(addr, target) {
        Some(fd) => {
            unsafe { syscall4(nr::CLOSE, fd, 0, 0, 0) };
            0
        }
        None => 1,
    }
}

/// A fixed-capacity byte buffer on the stack.
struct Buf {
    bytes: [u8; 2048],
    len: usize,
}

impl Buf {
    fn push(&mut self, s: &[u8]) -> bool {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return false;
        }
        self.bytes[self.len..end].copy_from_slice(s);
        self.len = end;
        true
    }
}

fn http(url: &[u8]) -> i32 {
    let rest = &url[b"http://".len()..];
    let slash = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(slash);
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    let Some(addr) = parse_host_port(authority, Some(80)) else {
        say(&[b"`", url, b"` has no numeric, [IPv6] or localhost host"]);
        return 2;
    };
    let mut req = Buf {
        bytes: [0; 2048],
        len: 0,
    };
    let fits = req.push(b"GET ")
        && req.push(path)
        && req.push(b" HTTP/1.0\r\nHost: ")
        && req.push(authority)
        && req.push(b"\r\nUser-Agent: gantry-probe\r\nConnection: close\r\n\r\n");
    if !fits {
        say(&[b"the URL is too long"]);
        return 2;
    }
    let Some(fd) = connect_or_say(addr, authority) else {
        return 1;
    };
    if !write_all(fd, &req.bytes[..req.len]) {
        say(&[b"cannot send the request to ", authority]);
        return 1;
    }
    // Only the status line matters: `HTTP/1.x NNN ...`.
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let p = head[got..].as_mut_ptr() as usize;
        let n = unsafe { syscall4(nr::READ, fd, p, head.len() - got, 0) };
        if n == -4 {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    unsafe { syscall4(nr::CLOSE, fd, 0, 0, 0) };
    let line = &head[..got];
    let status = match line {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', _, b' ', d @ ..] if d.len() >= 3 => {
            parse_u16(&d[..3], 10, 3)
        }
        _ => None,
    };
    match status {
        Some(200..=399) => 0,
        Some(code) => {
            let mut buf = [0u8; 20];
            say(&[url, b": status ", decimal(code as u64, &mut buf)]);
            1
        }
        None => {
            say(&[url, b": no HTTP/1.x status line in the answer"]);
            1
        }
    }
}

/// `5`, `5s`, `500ms` → milliseconds.
fn parse_millis(s: &[u8]) -> Option<u64> {
    let (digits, scale) = if let Some(d) = s.strip_suffix(b"ms") {
        (d, 1)
    } else if let Some(d) = s.strip_suffix(b"s") {
        (d, 1000)
    } else {
        (s, 1000)
    };
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v * 10 + (c as char).to_digit(10)? as u64;
    }
    (v > 0).then_some(v * scale)
}

unsafe fn c_str<'a>(p: *const u8) -> &'a [u8] {
    let mut n = 0;
    while *p.add(n) != 0 {
        n += 1;
    }
    core::slice::from_raw_parts(p, n)
}

const USAGE: &[u8] =
    b"usage: gantry-probe [--timeout 5s] http://HOST[:PORT][/PATH] | tcp HOST:PORT";

fn run(args: &[&[u8]]) -> i32 {
    let mut millis = 5000;
    let mut positional: [&[u8]; 2] = [b""; 2];
    let mut n = 0;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let value = if a == b"--timeout" {
            i += 1;
            args.get(i).copied()
        } else {
            a.strip_prefix(b"--timeout=")
        };
        if a.starts_with(b"--timeout") {
            match value.and_then(parse_millis) {
                Some(m) => millis = m,
                None => {
                    say(&[USAGE]);
                    return 2;
                }
            }
        } else if n < 2 {
            positional[n] = a;
            n += 1;
        } else {
            say(&[USAGE]);
            return 2;
        }
        i += 1;
    }
    arm_deadline(millis);
    match (n, positional) {
        (1, [url, _]) if url.starts_with(b"http://") => http(url),
        (1, [url, _]) if url.starts_with(b"tcp://") => tcp(&url[b"tcp://".len()..]),
        (2, [kind, target]) if kind == b"tcp" => tcp(target),
        _ => {
            say(&[USAGE]);
            2
        }
    }
}

unsafe extern "C" fn start(sp: *const usize) -> ! {
    let argc = *sp;
    let argv = sp.add(1) as *const *const u8;
    let mut args: [&[u8]; 8] = [b""; 8];
    let count = argc.saturating_sub(1).min(args.len());
    for (i, slot) in args.iter_mut().take(count).enumerate() {
        *slot = c_str(*argv.add(i + 1));
    }
    if argc > args.len() + 1 {
        say(&[USAGE]);
        exit(2);
    }
    exit(run(&args[..count]))
}
