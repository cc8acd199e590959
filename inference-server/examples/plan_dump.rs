use tract_onnx::prelude::*;
fn main() -> TractResult<()> {
    let path = std::env::args().nth(1).unwrap();
    let m = tract_onnx::onnx().model_for_path(&path)?.into_optimized()?;
    for n in m.nodes() {
        println!(
            "{} {} {:?}",
            n.id,
            n.op().name(),
            n.outputs.iter().map(|o| format!("{:?}", o.fact)).collect::<Vec<_>>()
        );
    }
    Ok(())
}
