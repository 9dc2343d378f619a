// THROWAWAY: not to be committed.
use imgcap_models::preprocess::resize_bicubic;
fn main() {
    let list = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    let (mut ok, mut bad) = (0, 0);
    for line in list.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let src = image::open(f[0]).unwrap().into_rgb8();
        let (w, h): (u32, u32) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let exp = image::open(f[3]).unwrap().into_rgb8();
        let got = resize_bicubic(&src, w, h);
        let alt = resize_bicubic(&resize_bicubic(&src, src.width(), h), w, h);
        if got.as_raw() == exp.as_raw() {
            ok += 1
        } else {
            bad += 1;
            let n = got
                .as_raw()
                .iter()
                .zip(exp.as_raw())
                .filter(|(a, b)| a != b)
                .count();
            let maxd = got
                .as_raw()
                .iter()
                .zip(exp.as_raw())
                .map(|(a, b)| (*a as i32 - *b as i32).abs())
                .max()
                .unwrap();
            println!(
                "MISMATCH {line} src {:?} ({n} differ, max {maxd}) vfirst {}",
                src.dimensions(),
                alt.as_raw() == exp.as_raw()
            );
        }
    }
    println!("ok {ok} bad {bad}");
}
