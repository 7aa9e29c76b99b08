// TEMPORARY measurement helper; not to be kept.
use runwasm_wasm::abi::*;
use std::time::Instant;

fn load(b: &[u8]) -> *mut std::ffi::c_void {
    let mut err = [0u8; 512];
    let h = unsafe { runwasm_wasm_load(b.as_ptr(), b.len(), err.as_mut_ptr(), 512) };
    assert!(!h.is_null(), "{}", String::from_utf8_lossy(&err));
    h
}
fn inst(l: *mut std::ffi::c_void) -> Result<*mut std::ffi::c_void, String> {
    let mut err = [0u8; 512];
    let j = r#"{"args":["/m.wasm"]}"#;
    let h = unsafe { runwasm_wasm_instantiate(l, j.as_ptr(), j.len(), err.as_mut_ptr(), 512) };
    if h.is_null() {
        Err(std::ffi::CStr::from_bytes_until_nul(&err)
            .unwrap()
            .to_string_lossy()
            .into())
    } else {
        Ok(h)
    }
}
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let bytes = wat::parse_file(path).unwrap();
    if args.get(2).map(String::as_str) == Some("run") {
        let h = inst(load(&bytes));
        println!("instantiate: {:?}", h.as_ref().map(|_| ()));
        if let Ok(h) = h {
            let mut err = [0u8; 512];
            let c = unsafe { runwasm_wasm_run(h, err.as_mut_ptr(), 512) };
            println!("run: {c}");
        }
        return;
    }
    let n: usize = args.get(2).map_or(2000, |s| s.parse().unwrap());
    // warm up
    for _ in 0..100 {
        let h = inst(load(&bytes)).unwrap();
        unsafe { drop_instance(h) };
    }
    let mut samples = Vec::new();
    for _ in 0..n {
        let l = load(&bytes);
        let t = Instant::now();
        let h = inst(l).unwrap();
        samples.push(t.elapsed().as_nanos() as u64);
        unsafe { drop_instance(h) };
    }
    samples.sort();
    let mean = samples.iter().sum::<u64>() as f64 / n as f64;
    println!(
        "n={n} median={}ns p10={}ns p90={}ns mean={:.0}ns",
        samples[n / 2],
        samples[n / 10],
        samples[n * 9 / 10],
        mean
    );
}
unsafe fn drop_instance(h: *mut std::ffi::c_void) {
    // run consumes the instance; hello module's _start just returns.
    let mut err = [0u8; 512];
    let _ = unsafe { runwasm_wasm_run(h, err.as_mut_ptr(), 512) };
}
