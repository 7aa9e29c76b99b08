//! Universal wasm files: a module plus WasmEdge's AOT section (custom
//! section `wasmedge`, the module's native code), as `wasmedge compile` and
//! [`crate::abi::runwasm_wasm_compile`] write them; the seal runwasm adds to
//! its own; and the checks made before WasmEdge is given native code.
//!
//! WasmEdge 0.14.1 checks little itself. An AOT section it cannot use (made
//! by another release, for another OS or CPU architecture, or unreadable)
//! is silently dropped and the module runs in the interpreter; one it can
//! parse is trusted: the native code is copied to executable memory at the
//! offsets the section names, and its symbol addresses are used without a
//! bounds check. So a damaged file could run arbitrary code. Hence:
//!
//! * [`check`] parses every AOT section the way WasmEdge does and checks
//!   what WasmEdge would use: format version, OS and architecture, the
//!   native sections' kinds, sizes and offsets, every symbol address
//!   against the native section it must point into, and the number of
//!   types and functions against the module's.
//! * Files written by runwasm end with a *seal* (custom section
//!   [`SEAL_SECTION`]): the WasmEdge version and host CPU features they
//!   were compiled for, the compiler options, and a SHA-256 of everything
//!   before the digest. [`check`] rejects a sealed file whose digest,
//!   WasmEdge version or CPU differ. The seal is the last section, so a
//!   truncated file loses it or its end, and either fails. WasmEdge
//!   ignores custom sections it does not know, so sealed files still run
//!   with `wasmedge`.
//!
//! A file sealed by nobody (`wasmedge compile`, an image) gets the
//! structural checks only: damage inside its native code, or code built
//! for CPU features this host lacks, cannot be detected.

use sha2::{Digest, Sha256};

/// The name of WasmEdge's AOT section.
pub const AOT_SECTION: &[u8] = b"wasmedge";
/// The name of runwasm's seal section.
pub const SEAL_SECTION: &[u8] = b"runwasm.aot";
/// The seal's own format version.
const SEAL_FORMAT: u8 = 1;
/// WasmEdge 0.14's AOT binary format version (`AOT::kBinaryVersion`).
pub const AOT_FORMAT: u32 = 1;
/// WasmEdge's code for this OS (Linux).
const HOST_OS: u8 = 1;
/// WasmEdge's code for this CPU architecture.
const HOST_ARCH: u8 = if cfg!(target_arch = "x86_64") {
    1
} else if cfg!(target_arch = "aarch64") {
    2
} else if cfg!(target_arch = "riscv64") {
    3
} else {
    u8::MAX
};
/// The native sections' kinds (`aot_section.cpp`).
const TEXT: u8 = 1;
const DATA: u8 = 2;
const BSS: u8 = 3;
const EH_FRAME: u8 = 4;
/// No module needs this much native code; a larger size is corrupt, and
/// WasmEdge would try to allocate it.
const MAX_NATIVE_BYTES: u64 = 1 << 30;
const PAGE: u64 = 4096;

/// What the file being loaded was compiled for, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The WasmEdge release, e.g. `0.14.1`.
    pub engine: String,
    /// The host CPU: its architecture and features (see [`host_cpu`]).
    pub cpu: String,
    /// The compiler options, e.g. `O2`.
    pub options: String,
}

/// What a file that passed [`check`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No AOT section: a plain module.
    Plain,
    /// An AOT section (checked), sealed by runwasm or not.
    Native { sealed: bool },
}

/// One section of a module.
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    pub id: u8,
    /// The offset of the section's id byte.
    pub start: usize,
    /// The section's payload.
    pub body: &'a [u8],
    /// A custom section's name and the payload after it.
    pub custom: Option<(&'a [u8], &'a [u8])>,
}

/// Reads the binary format's integers, names and byte strings.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or("unexpected end")?;
        self.pos += 1;
        Ok(b)
    }

    /// An unsigned LEB128 of at most `bits` bits, as WasmEdge reads it.
    pub(crate) fn leb(&mut self, bits: u32) -> Result<u64, String> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            let payload = u64::from(b & 0x7f);
            if shift + 7 > bits && payload >> (bits - shift) != 0 {
                return Err("integer too large".into());
            }
            value |= payload << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
            if shift >= bits {
                return Err("integer representation too long".into());
            }
        }
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        // Cannot truncate: at most 32 bits were read.
        self.leb(32).map(|v| v as u32)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        self.leb(64)
    }

    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => {
                let s = &self.bytes[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => Err("unexpected end".into()),
        }
    }

    pub(crate) fn name(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()?;
        self.take(n.into())
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        s
    }
}

/// The sections of a core module, in order. Fails on anything that is not
/// a well-formed sequence of sections (bad header, a section or custom
/// section name running past its end); the sections' contents are left to
/// WasmEdge.
pub fn sections(bytes: &[u8]) -> Result<Vec<Section<'_>>, String> {
    if bytes.get(..4) != Some(b"\0asm") {
        return Err("magic header not detected".into());
    }
    if bytes.get(4..8) != Some(&[1, 0, 0, 0]) {
        return Err("unknown binary version".into());
    }
    let mut r = Reader::new(bytes);
    r.pos = 8;
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let start = r.pos;
        let id = r.byte()?;
        if id > 12 {
            return Err(format!("malformed section id {id} at offset {start}"));
        }
        let body = r
            .u32()
            .and_then(|n| r.take(n.into()))
            .map_err(|e| format!("section at offset {start}: {e} (truncated file?)"))?;
        let custom = if id == 0 {
            let mut c = Reader::new(body);
            let name = c
                .name()
                .map_err(|e| format!("custom section at offset {start}: bad name: {e}"))?;
            Some((name, c.rest()))
        } else {
            None
        };
        out.push(Section {
            id,
            start,
            body,
            custom,
        });
    }
    Ok(out)
}

/// Whether `bytes` is a well-formed module carrying a WasmEdge AOT section
/// (usable or not: [`check`] tells).
pub fn has_aot_section(bytes: &[u8]) -> bool {
    sections(bytes).is_ok_and(|secs| secs.iter().any(is_aot))
}

fn is_aot(s: &Section<'_>) -> bool {
    matches!(s.custom, Some((name, _)) if name == AOT_SECTION)
}

fn is_seal(s: &Section<'_>) -> bool {
    matches!(s.custom, Some((name, _)) if name == SEAL_SECTION)
}

/// Checks a universal wasm file for this host (`target`: the running
/// WasmEdge and CPU) before WasmEdge is given its native code; `Err` says
/// why it must not be. A module without an AOT section is
/// [`Kind::Plain`].
pub fn check(bytes: &[u8], target: &Target) -> Result<Kind, String> {
    let secs = sections(bytes)?;
    let seals = secs.iter().filter(|s| is_seal(s)).count();
    let sealed = match secs.last() {
        Some(last) if is_seal(last) && seals == 1 => {
            check_seal(bytes, last, target)?;
            true
        }
        _ if seals > 0 => {
            return Err("runwasm's seal is not the last section: the file was modified".into())
        }
        _ => false,
    };
    let aot: Vec<&Section<'_>> = secs.iter().filter(|s| is_aot(s)).collect();
    if aot.is_empty() {
        return if sealed {
            Err("sealed by runwasm but carries no AOT section".into())
        } else {
            Ok(Kind::Plain)
        };
    }
    let types = vec_len(&secs, 1)?;
    let codes = vec_len(&secs, 10)?;
    // WasmEdge uses the last AOT section it can parse: all must be sound.
    for s in aot {
        let content = s.custom.map_or(&[][..], |(_, c)| c);
        let native = Native::parse(content)
            .map_err(|e| format!("AOT section at offset {}: {e}", s.start))?;
        native.check(types, codes, &target.engine)?;
    }
    Ok(Kind::Native { sealed })
}

/// The element count of the (first) section `id`, 0 without one.
fn vec_len(secs: &[Section<'_>], id: u8) -> Result<u64, String> {
    match secs.iter().find(|s| s.id == id) {
        Some(s) => Reader::new(s.body)
            .u32()
            .map(u64::from)
            .map_err(|e| format!("section {id}: {e}")),
        None => Ok(0),
    }
}

/// A parsed AOT section (`Loader::loadSection(FileMgr &, AST::AOTSection &)`).
#[derive(Debug)]
struct Native {
    version: u32,
    os: u8,
    arch: u8,
    version_address: u64,
    intrinsics_address: u64,
    types: Vec<u64>,
    codes: Vec<u64>,
    /// (kind, offset, size, content length)
    sections: Vec<(u8, u64, u64, u64)>,
    /// Where the first text section's content is in the AOT section (for
    /// the tests, which damage it).
    #[cfg_attr(not(test), allow(dead_code))]
    text: Option<std::ops::Range<usize>>,
}

impl Native {
    fn parse(content: &[u8]) -> Result<Self, String> {
        let mut r = Reader::new(content);
        let version = r.u32()?;
        if version != AOT_FORMAT {
            // The rest may be laid out differently: stop here.
            return Ok(Self {
                version,
                ..Self::empty()
            });
        }
        let os = r.byte()?;
        let arch = r.byte()?;
        let version_address = r.u64()?;
        let intrinsics_address = r.u64()?;
        let addresses = |r: &mut Reader<'_>| -> Result<Vec<u64>, String> {
            let n = r.u64()?;
            // Each takes a byte at least: refuse absurd counts up front.
            if n > r.remaining() as u64 {
                return Err("address count too large".into());
            }
            (0..n).map(|_| r.u64()).collect()
        };
        let types = addresses(&mut r)?;
        let codes = addresses(&mut r)?;
        let n = r.u32()?;
        if u64::from(n) > r.remaining() as u64 {
            return Err("native section count too large".into());
        }
        let mut sections = Vec::new();
        let mut text = None;
        for _ in 0..n {
            let kind = r.byte()?;
            let offset = r.u64()?;
            let size = r.u64()?;
            let len = r.u32()?;
            let at = r.pos;
            r.take(len.into())?;
            if kind == TEXT && text.is_none() {
                text = Some(at..r.pos);
            }
            sections.push((kind, offset, size, u64::from(len)));
        }
        if r.remaining() != 0 {
            return Err(format!("{} stray bytes at its end", r.remaining()));
        }
        Ok(Self {
            version,
            os,
            arch,
            version_address,
            intrinsics_address,
            types,
            codes,
            sections,
            text,
        })
    }

    fn empty() -> Self {
        Self {
            version: 0,
            os: 0,
            arch: 0,
            version_address: 0,
            intrinsics_address: 0,
            types: Vec::new(),
            codes: Vec::new(),
            sections: Vec::new(),
            text: None,
        }
    }

    /// What WasmEdge would silently ignore (and interpret instead) or use
    /// unchecked; `types`/`codes`: the module's type and function counts.
    fn check(&self, types: u64, codes: u64, engine: &str) -> Result<(), String> {
        if self.version != AOT_FORMAT {
            return Err(format!(
                "its native code is in AOT format {}, WasmEdge {engine} runs format {AOT_FORMAT} \
                 (compiled by another WasmEdge release)",
                self.version
            ));
        }
        if self.os != HOST_OS {
            return Err(format!(
                "its native code is for another operating system (WasmEdge OS code {})",
                self.os
            ));
        }
        if self.arch != HOST_ARCH {
            return Err(format!(
                "its native code is for another CPU architecture (WasmEdge arch code {})",
                self.arch
            ));
        }
        let mut image = 0u64;
        for &(kind, offset, size, len) in &self.sections {
            if !matches!(kind, TEXT | DATA | BSS | EH_FRAME) {
                return Err(format!("unknown native section kind {kind}"));
            }
            let end = offset
                .checked_add(size)
                .filter(|&e| e <= MAX_NATIVE_BYTES && len <= size)
                .ok_or("a native section's size or offset is out of range")?;
            image = image.max(end);
        }
        let image = image.div_ceil(PAGE) * PAGE;
        let within = |addr: u64, len: u64, kinds: &[u8]| {
            self.sections.iter().any(|&(kind, offset, size, _)| {
                kinds.contains(&kind)
                    && addr >= offset
                    && addr.checked_add(len).is_some_and(|e| e <= offset + size)
            })
        };
        // WasmEdge stores the intrinsics table's address there: writable.
        if !within(self.intrinsics_address, 8, &[DATA, BSS]) {
            return Err("the intrinsics address is outside the native data".into());
        }
        if self.version_address >= image {
            return Err("the version address is outside the native image".into());
        }
        if let Some(a) = self
            .types
            .iter()
            .chain(&self.codes)
            .find(|&&a| !within(a, 1, &[TEXT]))
        {
            return Err(format!(
                "a function address ({a:#x}) is outside the native code"
            ));
        }
        if self.types.len() as u64 != types || self.codes.len() as u64 != codes {
            return Err(format!(
                "its native code has {} types and {} functions, the module {types} and {codes} \
                 (compiled from another module)",
                self.types.len(),
                self.codes.len()
            ));
        }
        Ok(())
    }
}

/// Where, in `file`, its (first) AOT section's content starts and its
/// native code (first text section) lies.
#[cfg(test)]
pub fn native_layout(file: &[u8]) -> Option<(usize, std::ops::Range<usize>)> {
    let secs = sections(file).ok()?;
    let (_, content) = secs.iter().find(|s| is_aot(s))?.custom?;
    let start = content.as_ptr() as usize - file.as_ptr() as usize;
    let text = Native::parse(content).ok()?.text?;
    Some((start, start + text.start..start + text.end))
}

/// The seal for `file` (a universal wasm as WasmEdge wrote it): a custom
/// section to append to it.
pub fn seal(file: &[u8], target: &Target) -> Vec<u8> {
    let mut body = Vec::new();
    put_name(&mut body, SEAL_SECTION);
    body.push(SEAL_FORMAT);
    put_name(&mut body, target.engine.as_bytes());
    put_name(&mut body, target.cpu.as_bytes());
    put_name(&mut body, target.options.as_bytes());
    let digest = Sha256::new()
        .chain_update(file)
        .chain_update(&body)
        .finalize();
    body.extend_from_slice(&digest);
    let mut section = vec![0u8];
    put_u32(&mut section, body.len());
    section.extend_from_slice(&body);
    section
}

/// Checks the seal `s`, the last section of `file`.
fn check_seal(file: &[u8], s: &Section<'_>, target: &Target) -> Result<(), String> {
    const CORRUPT: &str = "checksum mismatch: the file is corrupt or truncated";
    let (_, content) = s.custom.ok_or(CORRUPT)?;
    let (Some(signed_len), Some(fields_len)) =
        (s.body.len().checked_sub(32), content.len().checked_sub(32))
    else {
        return Err(CORRUPT.into());
    };
    let (signed, digest) = s.body.split_at(signed_len);
    let want = Sha256::new()
        .chain_update(&file[..s.start])
        .chain_update(signed)
        .finalize();
    if want.as_slice() != digest {
        return Err(CORRUPT.into());
    }
    // The digest matched: the fields are as runwasm wrote them.
    let mut r = Reader::new(&content[..fields_len]);
    let format = r.byte()?;
    if format != SEAL_FORMAT {
        return Err(format!(
            "sealed in format {format} by another runwasm release (this one reads {SEAL_FORMAT})"
        ));
    }
    let text = |r: &mut Reader<'_>| r.name().map(|n| String::from_utf8_lossy(n).into_owned());
    let (engine, cpu, options) = (text(&mut r)?, text(&mut r)?, text(&mut r)?);
    if engine != target.engine {
        return Err(format!(
            "compiled for WasmEdge {engine}, this is WasmEdge {}",
            target.engine
        ));
    }
    if cpu != target.cpu {
        return Err(format!(
            "compiled for another CPU ({cpu:?}; this host is {:?})",
            target.cpu
        ));
    }
    if options != target.options {
        return Err(format!(
            "compiled with options {options:?}, this runwasm uses {:?}",
            target.options
        ));
    }
    Ok(())
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    let mut n = n;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_name(out: &mut Vec<u8>, name: &[u8]) {
    put_u32(out, name.len());
    out.extend_from_slice(name);
}

/// This host's CPU as far as generated code is concerned: the
/// architecture and the instruction set extensions that LLVM (compiling
/// for the host, as WasmEdge does) may use, as detected at run time.
pub fn host_cpu() -> String {
    let mut cpu = String::from(std::env::consts::ARCH);
    #[cfg(target_arch = "x86_64")]
    {
        use std::fmt::Write as _;
        macro_rules! features {
            ($($f:tt),* $(,)?) => {
                $(if std::arch::is_x86_feature_detected!($f) {
                    let _ = write!(cpu, " {}", $f);
                })*
            };
        }
        features!(
            "aes",
            "pclmulqdq",
            "rdrand",
            "rdseed",
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "sse4a",
            "sha",
            "avx",
            "avx2",
            "avx512f",
            "avx512cd",
            "avx512bw",
            "avx512dq",
            "avx512vl",
            "avx512ifma",
            "avx512vbmi",
            "avx512vpopcntdq",
            "avx512vbmi2",
            "avx512vnni",
            "avx512bitalg",
            "gfni",
            "vaes",
            "vpclmulqdq",
            "f16c",
            "fma",
            "bmi1",
            "bmi2",
            "lzcnt",
            "tbm",
            "popcnt",
            "movbe",
            "adx",
            "cmpxchg16b",
            "xsave",
        );
    }
    cpu
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            engine: "0.14.1".into(),
            cpu: "x86_64 sse3".into(),
            options: "O2".into(),
        }
    }

    /// A module with one type and one function.
    fn module() -> Vec<u8> {
        wat::parse_str(r#"(module (func (export "_start")))"#).expect("WAT")
    }

    fn custom(name: &[u8], content: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        put_name(&mut body, name);
        body.extend_from_slice(content);
        let mut s = vec![0u8];
        put_u32(&mut s, body.len());
        s.extend(body);
        s
    }

    /// An AOT section for `module()`: one text section holding the one
    /// type and one function, a BSS slot for the intrinsics table.
    fn aot_content(version: u8, arch: u8) -> Vec<u8> {
        let mut c = vec![version, HOST_OS, arch];
        c.push(0x10); // version address (16)
        c.extend([0x80, 0x20]); // intrinsics address (4096)
        c.extend([1, 0]); // one type at 0
        c.extend([1, 8]); // one function at 8
        c.push(2); // two native sections
        c.extend([TEXT, 0, 64, 2, 0xc3, 0xc3]); // text at 0, 64 bytes, 2 given
        c.extend([BSS, 0x80, 0x20, 8, 0]); // bss at 4096, 8 bytes
        c
    }

    #[test]
    fn plain_modules_are_plain() {
        assert_eq!(check(&module(), &target()), Ok(Kind::Plain));
        assert!(!has_aot_section(&module()));
    }

    #[test]
    fn a_sound_aot_section_passes_and_a_seal_binds_it() {
        let mut file = module();
        file.extend(custom(AOT_SECTION, &aot_content(1, HOST_ARCH)));
        assert!(has_aot_section(&file));
        assert_eq!(check(&file, &target()), Ok(Kind::Native { sealed: false }));
        let sealed = [file.clone(), seal(&file, &target())].concat();
        assert_eq!(check(&sealed, &target()), Ok(Kind::Native { sealed: true }));
        // Every byte of the sealed file matters (except the seal's name,
        // whose change leaves an intact unsealed file), and so does each
        // field of the target.
        // id, size, name length: then the name.
        let name_at = file.len() + 3..file.len() + 3 + SEAL_SECTION.len();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            let res = check(&bad, &target());
            if name_at.contains(&i) {
                assert_eq!(res, Ok(Kind::Native { sealed: false }), "byte {i}");
            } else {
                assert!(res.is_err(), "flipping byte {i} went unnoticed");
            }
        }
        // Cut anywhere after the plain module: only the cut that removes
        // exactly the seal leaves a sound (unsealed) file.
        for n in module().len() + 1..sealed.len() {
            if n != file.len() {
                assert!(check(&sealed[..n], &target()).is_err(), "truncated to {n}");
            }
        }
        for (field, want) in [
            (
                Target {
                    engine: "0.14.0".into(),
                    ..target()
                },
                "compiled for WasmEdge 0.14.1, this is WasmEdge 0.14.0",
            ),
            (
                Target {
                    cpu: "x86_64".into(),
                    ..target()
                },
                "compiled for another CPU",
            ),
            (
                Target {
                    options: "O3".into(),
                    ..target()
                },
                "compiled with options",
            ),
        ] {
            let err = check(&sealed, &field).expect_err(want);
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn unusable_aot_sections_are_named() {
        for (content, want) in [
            (
                aot_content(2, HOST_ARCH),
                "its native code is in AOT format 2",
            ),
            (
                aot_content(1, 77),
                "its native code is for another CPU architecture",
            ),
            (
                [&aot_content(1, HOST_ARCH)[..], &[0]].concat(),
                "1 stray bytes",
            ),
            (aot_content(1, HOST_ARCH)[..16].to_vec(), "unexpected end"),
        ] {
            let file = [module(), custom(AOT_SECTION, &content)].concat();
            let err = check(&file, &target()).expect_err(want);
            assert!(err.contains(want), "{err} lacks {want}");
        }
        // Addresses outside their native sections.
        let mut c = aot_content(1, HOST_ARCH);
        c[9] = 70; // the function at 70, past the 64-byte text
        let file = [module(), custom(AOT_SECTION, &c)].concat();
        let err = check(&file, &target()).expect_err("function address");
        assert!(err.contains("a function address (0x46)"), "{err}");
        let mut c = aot_content(1, HOST_ARCH);
        c[4..6].copy_from_slice(&[0x88, 0]); // intrinsics at 8, in the text
        let file = [module(), custom(AOT_SECTION, &c)].concat();
        let err = check(&file, &target()).expect_err("intrinsics address");
        assert!(err.contains("intrinsics address"), "{err}");
        // Two functions' worth of module for one native function.
        let two = wat::parse_str(r#"(module (func) (func (export "_start")))"#).expect("WAT");
        let file = [two, custom(AOT_SECTION, &aot_content(1, HOST_ARCH))].concat();
        let err = check(&file, &target()).expect_err("counts");
        assert!(
            err.contains("1 types and 1 functions, the module 1 and 2"),
            "{err}"
        );
    }

    #[test]
    fn malformed_files_fail_the_section_walk() {
        assert_eq!(
            check(b"hello world", &target()),
            Err("magic header not detected".into())
        );
        assert_eq!(
            check(b"\0asm\x02\0\0\0", &target()),
            Err("unknown binary version".into())
        );
        let file = [module(), vec![0, 10, 1]].concat();
        let err = check(&file, &target()).expect_err("truncated");
        assert!(err.contains("(truncated file?)"), "{err}");
        assert!(!has_aot_section(&file));
    }

    #[test]
    fn leb128_follows_the_binary_format() {
        let read = |b: &[u8], bits| Reader::new(b).leb(bits);
        assert_eq!(read(&[0xe5, 0x8e, 0x26], 32), Ok(624_485));
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0x0f], 32),
            Ok(u32::MAX.into())
        );
        assert!(read(&[0xff, 0xff, 0xff, 0xff, 0x1f], 32).is_err());
        assert!(read(&[0x80, 0x80, 0x80, 0x80, 0x80, 0], 32).is_err());
        assert_eq!(read(&[0x80, 0x00], 32), Ok(0));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read(&max, 64), Ok(u64::MAX));
        assert!(read(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            64
        )
        .is_err());
        let mut out = Vec::new();
        put_u32(&mut out, 624_485);
        assert_eq!(out, [0xe5, 0x8e, 0x26]);
    }

    #[test]
    fn host_cpu_names_the_architecture() {
        let cpu = host_cpu();
        assert!(cpu.starts_with(std::env::consts::ARCH), "{cpu}");
        assert_eq!(cpu, host_cpu());
    }
}
