//! What a module's binary says that WasmEdge's API does not show: every
//! memory and table it defines (exported or not) with its minimum size,
//! whether it has a start function, and its active data and element
//! segments with their constant offsets.
//!
//! * [`Layout::memory_over_cap`]: WasmEdge silently shrinks a memory whose
//!   minimum exceeds the page cap; the API only describes exported
//!   memories, so the ones the module keeps to itself are found here.
//! * [`Layout::why_trapped`]: WasmEdge reports a trap during instantiation
//!   with the trap's message only ("out of bounds memory access"), whether
//!   it came from an element or data segment that does not fit (before any
//!   code runs) or from the start function. The segments are replayed here
//!   in the order instantiation applies them (elements, then data, each in
//!   order) to tell which.
//!
//! * [`Layout::check_limits`]: a few bytes can ask WasmEdge for gigabytes
//!   (a table of 2^32 elements, a function with 2^28 locals), which it
//!   tries to allocate while loading or instantiating, and the process
//!   aborts or is OOM-killed. Such modules are refused up front, at the
//!   limits wasmtime and browsers apply (the WebAssembly JS API's).
//!
//! [`Layout::read`] returns `None` for anything it does not understand
//! (an invalid module, an encoding of a proposal the configuration leaves
//! off: WasmEdge then has the last word) and never panics. Of the code
//! section it reads only each function's local declarations.

use crate::aot::{sections, Reader};

/// A WebAssembly page.
const PAGE: u64 = 65536;
/// The most elements a table may start with (wasmparser's
/// `MAX_WASM_TABLE_ENTRIES`, the JS API's limit).
pub const MAX_TABLE_ELEMENTS: u64 = 10_000_000;
/// The most locals a function may declare (wasmparser's
/// `MAX_WASM_FUNCTION_LOCALS`, the JS API's limit).
pub const MAX_FUNCTION_LOCALS: u64 = 50_000;

/// One active segment: it writes `len` items at `offset` of memory or
/// table `target` while the module is instantiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Its index among the module's data (or element) segments.
    pub index: u32,
    /// The memory (or table) index it writes to.
    pub target: u32,
    /// Its offset, when that is a constant (`i32.const`, `i64.const`).
    pub offset: Option<u64>,
    /// Bytes (or elements) written.
    pub len: u64,
}

/// The layout of a module, see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// How many memories are imported (they come first in the index space).
    pub imported_memories: u32,
    /// The minimum size in pages of each memory the module defines.
    pub memories: Vec<u64>,
    /// How many tables are imported.
    pub imported_tables: u32,
    /// How many functions are imported.
    pub imported_funcs: u32,
    /// The function (index, locals) that declares the most locals.
    pub most_locals: Option<(u32, u64)>,
    /// The minimum size in elements of each table the module defines.
    pub tables: Vec<u64>,
    pub has_start: bool,
    /// Active data segments, in order.
    pub data: Vec<Segment>,
    /// Active element segments, in order.
    pub elems: Vec<Segment>,
}

/// Where an instantiation trap came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapSource {
    /// This segment does not fit (the message says how).
    Segment(String),
    /// Every segment fits: the start function trapped.
    StartFunction,
    /// A segment's offset is not a constant, so it cannot be told whether
    /// the segments or the start function (if any) trapped.
    Unknown,
}

impl Layout {
    /// Reads the layout of the valid module `bytes`; `None` when some part
    /// of it is not understood.
    pub fn read(bytes: &[u8]) -> Option<Layout> {
        let mut layout = Layout::default();
        for s in sections(bytes).ok()? {
            let mut r = Reader::new(s.body);
            match s.id {
                2 => layout.read_imports(&mut r).ok()?,
                4 => {
                    for _ in 0..r.u32().ok()? {
                        let min = table_type(&mut r).ok()?;
                        layout.tables.push(min);
                    }
                }
                5 => {
                    for _ in 0..r.u32().ok()? {
                        layout.memories.push(limits(&mut r).ok()?);
                    }
                }
                8 => layout.has_start = true,
                9 => layout.elems = elem_segments(&mut r).ok()?,
                10 => layout.most_locals = most_locals(&mut r, layout.imported_funcs).ok()?,
                11 => layout.data = data_segments(&mut r).ok()?,
                _ => {}
            }
        }
        Some(layout)
    }

    fn read_imports(&mut self, r: &mut Reader<'_>) -> Result<(), String> {
        for _ in 0..r.u32()? {
            r.name()?;
            r.name()?;
            match r.byte()? {
                0 => {
                    r.u32()?;
                    self.imported_funcs += 1;
                }
                1 => {
                    table_type(r)?;
                    self.imported_tables += 1;
                }
                2 => {
                    limits(r)?;
                    self.imported_memories += 1;
                }
                3 => {
                    val_type(r)?;
                    r.byte()?;
                }
                4 => {
                    r.byte()?;
                    r.u32()?;
                }
                k => return Err(format!("import kind {k}")),
            }
        }
        Ok(())
    }

    /// Refuses a table that starts with more than [`MAX_TABLE_ELEMENTS`]
    /// or a function with more than [`MAX_FUNCTION_LOCALS`] locals.
    pub fn check_limits(&self) -> Result<(), String> {
        if let Some((i, min)) = self
            .tables
            .iter()
            .enumerate()
            .find(|(_, &min)| min > MAX_TABLE_ELEMENTS)
        {
            return Err(format!(
                "table {} starts with {min} elements; runwasm allows at most \
                 {MAX_TABLE_ELEMENTS} (as wasmtime and browsers)",
                self.imported_tables as usize + i
            ));
        }
        if let Some((f, n)) = self.most_locals.filter(|&(_, n)| n > MAX_FUNCTION_LOCALS) {
            return Err(format!(
                "function {f} declares {n} locals; runwasm allows at most \
                 {MAX_FUNCTION_LOCALS} (as wasmtime and browsers)"
            ));
        }
        Ok(())
    }

    /// The message for the first memory the module defines whose minimum
    /// exceeds `max_pages` (call it after the exported memories were
    /// checked by name: the one found here is then not exported).
    pub fn memory_over_cap(&self, max_pages: u32) -> Option<String> {
        self.memories
            .iter()
            .enumerate()
            .find(|(_, &min)| min > u64::from(max_pages))
            .map(|(i, min)| {
                format!(
                    "memory {} (not exported) needs {min} pages but max_memory_pages is {max_pages}",
                    self.imported_memories as usize + i
                )
            })
    }

    /// Where a trap during instantiation came from: the first element
    /// segment, then the first data segment, that does not fit in its table
    /// or memory (at their minimum sizes, which is what a new instance
    /// has), else the start function.
    pub fn why_trapped(&self) -> TrapSource {
        let mut unknown = false;
        let checks = [
            (
                &self.elems,
                &self.tables,
                self.imported_tables,
                1,
                "element",
            ),
            (
                &self.data,
                &self.memories,
                self.imported_memories,
                PAGE,
                "data",
            ),
        ];
        for (segments, sizes, imported, unit, what) in checks {
            for seg in segments {
                let size = seg
                    .target
                    .checked_sub(imported)
                    .and_then(|i| sizes.get(i as usize))
                    .map(|min| min.saturating_mul(unit));
                let (Some(offset), Some(size)) = (seg.offset, size) else {
                    unknown = true;
                    continue;
                };
                if offset.checked_add(seg.len).is_none_or(|end| end > size) {
                    return TrapSource::Segment(if what == "data" {
                        format!(
                            "data segment {} writes {} byte(s) at offset {offset} of memory {}, \
                             which has {size} bytes",
                            seg.index, seg.len, seg.target
                        )
                    } else {
                        format!(
                            "element segment {} writes {} element(s) at index {offset} of \
                             table {}, which has {size} elements",
                            seg.index, seg.len, seg.target
                        )
                    });
                }
            }
        }
        if unknown {
            TrapSource::Unknown
        } else {
            TrapSource::StartFunction
        }
    }
}

/// A signed LEB128 of at most `bits` bits.
fn sleb(r: &mut Reader<'_>, bits: u32) -> Result<i64, String> {
    let max_shift = bits.div_ceil(7) * 7;
    let mut value: i64 = 0;
    let mut shift = 0u32;
    loop {
        let b = r.byte()?;
        value |= i64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            if shift < 64 && b & 0x40 != 0 {
                value |= -1i64 << shift;
            }
            return Ok(value);
        }
        if shift >= max_shift {
            return Err("integer representation too long".into());
        }
    }
}

/// Memory or table limits; returns the minimum.
fn limits(r: &mut Reader<'_>) -> Result<u64, String> {
    let flags = r.byte()?;
    if flags > 7 {
        return Err(format!("limits flags {flags:#x}"));
    }
    let min = r.u64()?;
    if flags & 1 != 0 {
        r.u64()?;
    }
    Ok(min)
}

/// A reference type: one byte, or `ref`/`ref null` and a heap type.
fn ref_type(r: &mut Reader<'_>) -> Result<(), String> {
    match r.byte()? {
        0x63 | 0x64 => sleb(r, 33).map(drop),
        _ => Ok(()),
    }
}

fn val_type(r: &mut Reader<'_>) -> Result<(), String> {
    ref_type(r)
}

/// A table type (with the function-references form that carries an
/// initializer); returns the minimum.
fn table_type(r: &mut Reader<'_>) -> Result<u64, String> {
    if r.peek() == Some(0x40) {
        r.byte()?;
        if r.byte()? != 0 {
            return Err("table type".into());
        }
        ref_type(r)?;
        let min = limits(r)?;
        const_expr(r)?;
        return Ok(min);
    }
    ref_type(r)?;
    limits(r)
}

/// A constant expression up to its `end`; its value when it is a single
/// `i32.const` (as the unsigned offset it stands for) or `i64.const`.
fn const_expr(r: &mut Reader<'_>) -> Result<Option<u64>, String> {
    let mut value = None;
    let mut count = 0;
    loop {
        let op = r.byte()?;
        count += 1;
        match op {
            0x0b => return Ok(if count == 2 { value } else { None }),
            // The offset of a 32-bit memory or table is the i32's bits.
            0x41 => value = Some(u64::from(sleb(r, 32)? as u32)),
            0x42 => value = Some(sleb(r, 64)? as u64),
            0x43 => {
                r.take(4)?;
            }
            0x44 => {
                r.take(8)?;
            }
            0x23 | 0xd2 => {
                r.u32()?;
            }
            0xd0 => {
                sleb(r, 33)?;
            }
            // Extended constant expressions: i32/i64 add, sub, mul.
            0x6a..=0x6c | 0x7c..=0x7e => {}
            0xfd => {
                if r.u32()? != 12 {
                    return Err("vector instruction in a constant".into());
                }
                r.take(16)?;
            }
            other => return Err(format!("opcode {other:#x} in a constant")),
        }
        if count > 1 {
            value = None;
        }
    }
}

/// The function with the most locals in a code section, `imported` being
/// the number of imported functions (they come first in the index space).
fn most_locals(r: &mut Reader<'_>, imported: u32) -> Result<Option<(u32, u64)>, String> {
    let mut most: Option<(u32, u64)> = None;
    for i in 0..r.u32()? {
        let size = r.u32()?;
        let mut body = Reader::new(r.take(size.into())?);
        let mut locals = 0u64;
        for _ in 0..body.u32()? {
            locals += u64::from(body.u32()?);
            val_type(&mut body)?;
        }
        if most.is_none_or(|(_, n)| locals > n) {
            most = Some((imported.saturating_add(i), locals));
        }
    }
    Ok(most)
}

/// The active data segments of a data section.
fn data_segments(r: &mut Reader<'_>) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for index in 0..r.u32()? {
        let (target, offset) = match r.u32()? {
            0 => (0, Some(const_expr(r)?)),
            1 => (0, None),
            2 => {
                let m = r.u32()?;
                (m, Some(const_expr(r)?))
            }
            f => return Err(format!("data segment flags {f}")),
        };
        let len = r.u32()?;
        r.take(len.into())?;
        if let Some(offset) = offset {
            out.push(Segment {
                index,
                target,
                offset,
                len: len.into(),
            });
        }
    }
    Ok(out)
}

/// The active element segments of an element section.
fn elem_segments(r: &mut Reader<'_>) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for index in 0..r.u32()? {
        let flags = r.u32()?;
        if flags > 7 {
            return Err(format!("element segment flags {flags}"));
        }
        let active = flags & 1 == 0;
        let explicit_table = flags & 2 != 0;
        let exprs = flags & 4 != 0;
        let mut target = 0;
        let mut offset = None;
        if active {
            if explicit_table {
                target = r.u32()?;
            }
            offset = Some(const_expr(r)?);
        }
        // The element kind (flags 1-3) or reference type (5-7).
        if flags & 3 != 0 {
            if exprs {
                ref_type(r)?;
            } else {
                r.byte()?;
            }
        }
        let n = r.u32()?;
        for _ in 0..n {
            if exprs {
                const_expr(r)?;
            } else {
                r.u32()?;
            }
        }
        if let Some(offset) = offset {
            out.push(Segment {
                index,
                target,
                offset,
                len: n.into(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(wat: &str) -> Layout {
        Layout::read(&wat::parse_str(wat).expect("wat")).expect("layout")
    }

    #[test]
    fn memories_exported_or_not() {
        let l = layout(
            r#"(module (import "env" "m" (memory 1)) (memory 60000) (memory (export "x") 2 3))"#,
        );
        assert_eq!(l.imported_memories, 1);
        assert_eq!(l.memories, [60000, 2]);
        assert_eq!(
            l.memory_over_cap(768).as_deref(),
            Some("memory 1 (not exported) needs 60000 pages but max_memory_pages is 768")
        );
        assert_eq!(l.memory_over_cap(60000), None);
    }

    #[test]
    fn a_data_segment_out_of_bounds_is_named() {
        let l =
            layout(r#"(module (memory 1) (data (i32.const 0) "ok") (data (i32.const 70000) "x"))"#);
        assert!(!l.has_start);
        assert_eq!(
            l.why_trapped(),
            TrapSource::Segment(
                "data segment 1 writes 1 byte(s) at offset 70000 of memory 0, which has 65536 bytes"
                    .into()
            )
        );
        // Negative i32 offsets are large unsigned ones.
        let l = layout(r#"(module (memory 1) (data (i32.const -1) "xy"))"#);
        assert!(matches!(l.why_trapped(), TrapSource::Segment(m) if m.contains("4294967295")));
        // Exactly at the end is fine.
        let l = layout(
            r#"(module (memory 1) (data (i32.const 65535) "x") (func $s unreachable) (start $s))"#,
        );
        assert!(l.has_start);
        assert_eq!(l.why_trapped(), TrapSource::StartFunction);
    }

    #[test]
    fn element_segments_come_first() {
        let l = layout(
            r#"(module (memory 1) (table 2 funcref) (func $f)
                 (elem (i32.const 1) $f $f) (data (i32.const 70000) "x"))"#,
        );
        assert_eq!(
            l.why_trapped(),
            TrapSource::Segment(
                "element segment 0 writes 2 element(s) at index 1 of table 0, which has 2 elements"
                    .into()
            )
        );
        // Passive and declarative segments are never applied.
        let l = layout(
            r#"(module (table 1 funcref) (func $f) (elem func $f $f) (elem declare func $f)
                 (elem (table 0) (i32.const 0) funcref (ref.func $f)))"#,
        );
        assert_eq!(l.elems.len(), 1);
        assert_eq!(l.why_trapped(), TrapSource::StartFunction);
    }

    #[test]
    fn non_constant_offsets_are_unknown() {
        let l = layout(
            r#"(module (import "env" "g" (global i32)) (memory 1)
                 (data (global.get 0) "x"))"#,
        );
        assert_eq!(l.why_trapped(), TrapSource::Unknown);
    }

    #[test]
    fn limits_of_tables_and_locals() {
        let l = layout(
            r#"(module (import "env" "f" (func)) (table 10000000 funcref)
                 (func (local i32 i64)) (func (local i32) (local i32)))"#,
        );
        assert_eq!(l.most_locals, Some((1, 2)));
        assert_eq!(l.check_limits(), Ok(()));
        let l = layout(r#"(module (table 10000001 funcref))"#);
        assert_eq!(
            l.check_limits().unwrap_err(),
            "table 0 starts with 10000001 elements; runwasm allows at most 10000000 (as \
             wasmtime and browsers)"
        );
        // One declaration of 2^32 - 1 locals is a few bytes.
        let mut bytes = wat::parse_str("(module (func))").unwrap();
        let code = bytes.len() - 6;
        assert_eq!(bytes[code..], [10, 4, 1, 2, 0, 0x0b]);
        bytes.truncate(code);
        bytes.extend([10, 10, 1, 8, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b]);
        let l = Layout::read(&bytes).unwrap();
        assert_eq!(
            l.check_limits().unwrap_err(),
            "function 0 declares 4294967295 locals; runwasm allows at most 50000 (as \
             wasmtime and browsers)"
        );
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        assert_eq!(Layout::read(b"not wasm"), None);
        let mut x: u32 = 0x1234_5678;
        for len in 0..64 {
            let mut bytes = b"\0asm\x01\0\0\0".to_vec();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                bytes.push(x as u8);
            }
            let _ = Layout::read(&bytes);
        }
    }
}
