//! The ONNX runtime boundary: tract-onnx, compiled once into an optimized typed plan at load.

use std::sync::{Arc, Mutex};
use tract_onnx::prelude::*;

/// Most idle run states kept per plan (about one per worker thread is enough).
const MAX_IDLE_STATES: usize = 8;

/// A compiled, optimized model ready to run; cheap to clone and safe to share across threads.
/// Run states are pooled: creating one per run allocates every node's state again.
#[derive(Clone)]
pub struct Plan {
    plan: Arc<TypedSimplePlan>,
    states: Arc<Mutex<Vec<TypedSimpleState>>>,
    inputs: Vec<String>,
}

/// A failure inside tract.
#[derive(Debug, Clone, thiserror::Error)]
#[error("onnx runtime: {0}")]
pub struct RuntimeError(String);

impl RuntimeError {
    /// A runtime failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<TractError> for RuntimeError {
    fn from(e: TractError) -> Self {
        Self(format!("{e:#}"))
    }
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan").finish_non_exhaustive()
    }
}

impl Plan {
    /// Parse an ONNX model, optimize it and turn it into a runnable plan.
    pub fn compile(onnx: &[u8]) -> Result<Self, RuntimeError> {
        Self::compile_for_output(onnx, None)
    }

    /// As [`Plan::compile`], keeping only the graph output named `output` when one is given (a
    /// skl2onnx classifier answers `label` first and `probabilities` second; the server reads
    /// the probabilities, and tract then computes nothing else).
    pub fn compile_for_output(onnx: &[u8], output: Option<&str>) -> Result<Self, RuntimeError> {
        let mut reader = onnx;
        let mut model = tract_onnx::onnx().model_for_read(&mut reader)?;
        if let Some(name) = output {
            model
                .select_outputs_by_name([name])
                .map_err(|_| RuntimeError::new(format!("the graph has no output named '{name}'")))?;
        }
        let inputs = model.input_outlets()?.iter().map(|o| model.node(o.node).name.clone()).collect();
        let plan = model.into_optimized()?.into_runnable()?;
        Ok(Self { plan, states: Arc::new(Mutex::new(Vec::new())), inputs })
    }

    /// The graph's input names, in order.
    pub fn input_names(&self) -> &[String] {
        &self.inputs
    }

    /// The last dimension of the graph's first output when it is fixed (a classifier's classes).
    pub fn output_width(&self) -> Option<usize> {
        let fact = self.plan.model().output_fact(0).ok()?;
        tract_onnx::prelude::tract_data::internal::DimLike::to_usize(fact.shape.last()?).ok()
    }

    /// Run with int64 inputs, each given as (shape, data).
    pub fn run_i64(&self, inputs: &[(&[usize], &[i64])]) -> Result<Vec<f32>, RuntimeError> {
        let tensors = inputs
            .iter()
            .map(|(shape, data)| Tensor::from_shape(shape, data).map(|t| t.into()))
            .collect::<TractResult<TVec<TValue>>>()?;
        self.run(tensors)
    }

    /// Run with one float32 input.
    pub fn run_f32(&self, shape: &[usize], data: &[f32]) -> Result<Vec<f32>, RuntimeError> {
        self.run(tvec!(Tensor::from_shape(shape, data)?.into()))
    }

    fn run(&self, inputs: TVec<TValue>) -> Result<Vec<f32>, RuntimeError> {
        let pooled = self.states.lock().ok().and_then(|mut s| s.pop());
        let mut state = match pooled {
            Some(s) => s,
            None => self.plan.spawn()?,
        };
        let outputs = state.run(inputs)?;
        if let Ok(mut idle) = self.states.lock() {
            if idle.len() < MAX_IDLE_STATES {
                idle.push(state);
            }
        }
        let first = outputs.first().ok_or_else(|| RuntimeError::new("model produced no output"))?;
        Ok(first.to_plain_array_view::<f32>()?.iter().copied().collect())
    }
}

/// A run's flat `[rows, classes]` output as one probability row per input row.
pub fn split_rows(flat: &[f32], classes: usize) -> Vec<Vec<f32>> {
    flat.chunks(classes.max(1)).map(<[f32]>::to_vec).collect()
}
