//! The few parts of llama.cpp's C API the engine uses, as safe types.
//!
//! llama.cpp is reached through `llama-cpp-sys-2` (its build and bindings)
//! rather than a higher-level crate: the engine needs the raw context to
//! attach a persistent thread pool (`llama_attach_threadpool`), without which
//! llama.cpp creates and joins its worker threads for every decoded token,
//! about 5 % of the generation speed on two cores. Every `unsafe` block is
//! here, each call is documented in `llama.h`, and each pointer is owned by
//! exactly one value that frees it on drop.

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock};

use llama_cpp_sys_2 as sys;

pub type Token = sys::llama_token;

/// What llama.cpp refused, in its own words where it gives any.
#[derive(Debug)]
pub struct LlamaError(pub String);

impl std::fmt::Display for LlamaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Starts llama.cpp's backend once per process and routes its log lines to
/// `tracing` (stderr or the log file), never to stdout.
pub fn init() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        // SAFETY: a plain function pointer with no user data; both calls are
        // documented as process-wide set-up, done once here.
        unsafe {
            sys::llama_log_set(Some(log_line), std::ptr::null_mut());
            sys::llama_backend_init();
        }
    });
}

unsafe extern "C" fn log_line(level: sys::ggml_log_level, text: *const c_char, _: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    match level {
        sys::GGML_LOG_LEVEL_ERROR => tracing::error!(target: "llama.cpp", "{text}"),
        sys::GGML_LOG_LEVEL_WARN => tracing::warn!(target: "llama.cpp", "{text}"),
        sys::GGML_LOG_LEVEL_INFO => tracing::debug!(target: "llama.cpp", "{text}"),
        _ => tracing::trace!(target: "llama.cpp", "{text}"),
    }
}

/// Loaded weights and vocabulary.
pub struct Model(NonNull<sys::llama_model>);

// SAFETY: llama.cpp's model is immutable after loading and documented as
// shareable between contexts on any thread.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: owned pointer from `llama_model_load_from_file`; contexts
        // hold an `Arc<Model>`, so none outlives it.
        unsafe { sys::llama_model_free(self.0.as_ptr()) }
    }
}

impl Model {
    pub fn load(path: &Path, gpu_layers: u32) -> Result<Arc<Model>, LlamaError> {
        init();
        let path = path
            .to_str()
            .and_then(|p| CString::new(p).ok())
            .ok_or_else(|| LlamaError("the path is not valid UTF-8 or holds a NUL character".to_owned()))?;
        // SAFETY: default parameters, a NUL-terminated path; the result is
        // null on failure.
        let model = unsafe {
            let mut params = sys::llama_model_default_params();
            params.n_gpu_layers = i32::try_from(gpu_layers).unwrap_or(i32::MAX);
            sys::llama_model_load_from_file(path.as_ptr(), params)
        };
        NonNull::new(model).map(|m| Arc::new(Model(m))).ok_or_else(|| LlamaError("llama.cpp could not load it".into()))
    }

    fn vocab(&self) -> *const sys::llama_vocab {
        // SAFETY: the model is valid; the vocabulary lives as long as it.
        unsafe { sys::llama_model_get_vocab(self.0.as_ptr()) }
    }

    /// The context length the model was trained for.
    pub fn n_ctx_train(&self) -> u32 {
        // SAFETY: the model is valid.
        u32::try_from(unsafe { sys::llama_model_n_ctx_train(self.0.as_ptr()) }).unwrap_or(0)
    }

    /// The chat template embedded in the GGUF file, if any.
    pub fn chat_template(&self) -> Option<CString> {
        // SAFETY: the model is valid; the result is null or a string owned
        // by the model, copied at once.
        let template = unsafe { sys::llama_model_chat_template(self.0.as_ptr(), std::ptr::null()) };
        (!template.is_null()).then(|| unsafe { CStr::from_ptr(template) }.to_owned())
    }

    /// Renders `messages` (role, content) with `template`, ending with the
    /// assistant's turn.
    pub fn apply_chat_template(&self, template: &CStr, messages: &[(&str, &str)]) -> Result<String, LlamaError> {
        let owned: Vec<(CString, CString)> = messages
            .iter()
            .map(|(role, content)| Ok((CString::new(*role)?, CString::new(*content)?)))
            .collect::<Result<_, std::ffi::NulError>>()
            .map_err(|_| LlamaError("a message holds a NUL character".to_owned()))?;
        let chat: Vec<sys::llama_chat_message> = owned
            .iter()
            .map(|(role, content)| sys::llama_chat_message { role: role.as_ptr(), content: content.as_ptr() })
            .collect();
        let mut buf = vec![0u8; 2 * messages.iter().map(|(r, c)| r.len() + c.len()).sum::<usize>() + 256];
        loop {
            let capacity = i32::try_from(buf.len()).unwrap_or(i32::MAX);
            // SAFETY: `chat` points at `owned`, alive for the call; `buf`
            // has `capacity` writable bytes.
            let n = unsafe {
                sys::llama_chat_apply_template(
                    template.as_ptr(),
                    chat.as_ptr(),
                    chat.len(),
                    true,
                    buf.as_mut_ptr().cast(),
                    capacity,
                )
            };
            if n < 0 {
                return Err(LlamaError("llama.cpp does not know this chat template".to_owned()));
            }
            let n = n as usize;
            if n <= buf.len() {
                buf.truncate(n);
                return String::from_utf8(buf).map_err(|_| LlamaError("the template wrote invalid UTF-8".to_owned()));
            }
            buf.resize(n, 0);
        }
    }

    /// Whether the model wants a beginning-of-sequence token first, and it.
    pub fn bos(&self) -> Option<Token> {
        // SAFETY: the vocabulary is valid.
        unsafe { sys::llama_vocab_get_add_bos(self.vocab()).then(|| sys::llama_vocab_bos(self.vocab())) }
    }

    /// Whether `token` ends generation (end of sequence, end of turn, …).
    pub fn is_eog(&self, token: Token) -> bool {
        // SAFETY: the vocabulary is valid; any token id is accepted.
        unsafe { sys::llama_vocab_is_eog(self.vocab(), token) }
    }

    /// Tokens of `text`; `special` parses control tokens written in it.
    pub fn tokenize(&self, text: &str, special: bool) -> Vec<Token> {
        let Ok(len) = i32::try_from(text.len()) else { return Vec::new() };
        let mut tokens: Vec<Token> = vec![0; text.len() + 2];
        loop {
            let capacity = i32::try_from(tokens.len()).unwrap_or(i32::MAX);
            // SAFETY: `text` is `len` readable bytes; `tokens` has room for
            // `capacity` tokens; a negative answer is the room needed.
            let n = unsafe {
                sys::llama_tokenize(
                    self.vocab(),
                    text.as_ptr().cast(),
                    len,
                    tokens.as_mut_ptr(),
                    capacity,
                    false,
                    special,
                )
            };
            if n >= 0 {
                tokens.truncate(n as usize);
                return tokens;
            }
            tokens.resize(n.unsigned_abs() as usize, 0);
        }
    }

    /// The bytes of one token (a piece of a UTF-8 character is possible);
    /// `special` renders control tokens as their text.
    pub fn piece(&self, token: Token, special: bool) -> Vec<u8> {
        let mut buf = vec![0u8; 32];
        loop {
            let capacity = i32::try_from(buf.len()).unwrap_or(i32::MAX);
            // SAFETY: `buf` has `capacity` writable bytes; a negative answer
            // is the room needed.
            let n = unsafe {
                sys::llama_token_to_piece(self.vocab(), token, buf.as_mut_ptr().cast(), capacity, 0, special)
            };
            if n >= 0 {
                buf.truncate(n as usize);
                return buf;
            }
            buf.resize(n.unsigned_abs() as usize, 0);
        }
    }
}

/// llama.cpp's CPU worker threads, kept between decodes.
struct ThreadPool(NonNull<sys::ggml_threadpool>, PoolFn);

impl ThreadPool {
    /// A pool of `threads`, or `None` where the CPU back end does not offer
    /// one (llama.cpp then makes its own per decode, only slower).
    fn new(threads: i32) -> Option<ThreadPool> {
        type New = unsafe extern "C" fn(*mut sys::ggml_threadpool_params) -> *mut sys::ggml_threadpool;
        let new = cpu_function("ggml_threadpool_new")?;
        let free = cpu_function("ggml_threadpool_free")?;
        // SAFETY: the names have these signatures in `ggml-cpu.h`.
        unsafe {
            let new = std::mem::transmute::<*mut c_void, New>(new);
            let free = std::mem::transmute::<*mut c_void, PoolFn>(free);
            let mut params = sys::ggml_threadpool_params_default(threads);
            NonNull::new(new(&mut params)).map(|pool| ThreadPool(pool, free))
        }
    }

    /// Lets the threads sleep until the next decode wakes them.
    fn pause(&self) {
        static PAUSE: OnceLock<Option<PoolFn>> = OnceLock::new();
        let pause = PAUSE.get_or_init(|| {
            // SAFETY: `ggml_threadpool_pause` has this signature in `ggml-cpu.h`.
            cpu_function("ggml_threadpool_pause").map(|f| unsafe { std::mem::transmute::<*mut c_void, PoolFn>(f) })
        });
        if let Some(pause) = pause {
            // SAFETY: a live pool; the next decode resumes it.
            unsafe { pause(self.0.as_ptr()) }
        }
    }
}

/// A function taking a thread pool (`ggml_threadpool_free`, `…_pause`).
type PoolFn = unsafe extern "C" fn(*mut sys::ggml_threadpool);

/// A function the CPU back end exports by name, as llama.cpp's own tools
/// look them up; `None` where there is no CPU back end or no such function.
fn cpu_function(name: &str) -> Option<*mut c_void> {
    let name = CString::new(name).ok()?;
    // SAFETY: registry look-ups with a NUL-terminated name; null answers
    // are checked.
    unsafe {
        let device = sys::ggml_backend_dev_by_type(sys::GGML_BACKEND_DEVICE_TYPE_CPU);
        if device.is_null() {
            return None;
        }
        let registry = sys::ggml_backend_dev_backend_reg(device);
        let function = sys::ggml_backend_reg_get_proc_address(registry, name.as_ptr());
        (!function.is_null()).then_some(function)
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // SAFETY: owned pool, detached from its context before (see
        // `Context::drop`).
        unsafe { (self.1)(self.0.as_ptr()) }
    }
}

/// One context: the KV cache and working buffers of a loaded model.
pub struct Context {
    ptr: NonNull<sys::llama_context>,
    pool: Option<ThreadPool>,
    model: Arc<Model>,
}

// SAFETY: a context is used by one thread at a time (it is owned by the
// engine's thread); llama.cpp allows moving it between threads.
unsafe impl Send for Context {}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: owned context; the pool is detached before either is freed.
        unsafe {
            if self.pool.is_some() {
                sys::llama_detach_threadpool(self.ptr.as_ptr());
            }
            sys::llama_free(self.ptr.as_ptr());
        }
        self.pool = None;
    }
}

impl Context {
    /// A context of `n_ctx` tokens evaluated `n_batch` at a time on
    /// `threads` CPU threads, holding up to `sequences` token sequences
    /// that share its `n_ctx` cells (one unified KV cache).
    pub fn new(
        model: &Arc<Model>,
        n_ctx: u32,
        n_batch: u32,
        threads: i32,
        sequences: u32,
    ) -> Result<Context, LlamaError> {
        // SAFETY: default parameters; the result is null on failure.
        let ptr = unsafe {
            let mut params = sys::llama_context_default_params();
            params.n_ctx = n_ctx;
            params.n_seq_max = sequences.max(1);
            params.kv_unified = true;
            params.n_batch = n_batch;
            params.n_ubatch = n_batch;
            params.n_threads = threads;
            params.n_threads_batch = threads;
            sys::llama_init_from_model(model.0.as_ptr(), params)
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| LlamaError("llama.cpp could not allocate it".to_owned()))?;
        let pool = ThreadPool::new(threads);
        if let Some(pool) = &pool {
            // SAFETY: both live; the context is freed first (see `drop`).
            unsafe { sys::llama_attach_threadpool(ptr.as_ptr(), pool.0.as_ptr(), pool.0.as_ptr()) }
        }
        Ok(Context { ptr, pool, model: Arc::clone(model) })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn n_ctx(&self) -> u32 {
        // SAFETY: the context is valid.
        unsafe { sys::llama_n_ctx(self.ptr.as_ptr()) }
    }

    pub fn n_batch(&self) -> u32 {
        // SAFETY: the context is valid.
        unsafe { sys::llama_n_batch(self.ptr.as_ptr()) }
    }

    /// Forgets sequence `seq` from position `from` on; false when llama.cpp
    /// cannot cut the sequence there (clear it then).
    pub fn truncate(&mut self, seq: i32, from: u32) -> bool {
        let from = i32::try_from(from).unwrap_or(i32::MAX);
        // SAFETY: the context and its memory are valid; `seq` < n_seq_max.
        unsafe { sys::llama_memory_seq_rm(sys::llama_get_memory(self.ptr.as_ptr()), seq, from, -1) }
    }

    /// Forgets all of sequence `seq`.
    pub fn clear_sequence(&mut self, seq: i32) {
        // SAFETY: the context and its memory are valid; removing a whole
        // sequence always succeeds.
        unsafe {
            sys::llama_memory_seq_rm(sys::llama_get_memory(self.ptr.as_ptr()), seq, -1, -1);
        }
    }

    pub fn clear(&mut self) {
        // SAFETY: the context and its memory are valid.
        unsafe { sys::llama_memory_clear(sys::llama_get_memory(self.ptr.as_ptr()), true) }
    }

    /// Evaluates the batch's tokens into the cache.
    pub fn decode(&mut self, batch: &Batch) -> Result<(), LlamaError> {
        // SAFETY: the batch's arrays hold `n_tokens` initialised entries.
        match unsafe { sys::llama_decode(self.ptr.as_ptr(), batch.raw) } {
            0 => Ok(()),
            1 => Err(LlamaError("the context is full".to_owned())),
            2 => Err(LlamaError("aborted".to_owned())),
            code => Err(LlamaError(format!("decode error {code}"))),
        }
    }

    /// Lets the worker threads sleep while no job runs.
    pub fn rest(&self) {
        if let Some(pool) = &self.pool {
            pool.pause();
        }
    }
}

/// Tokens to evaluate, one sequence.
pub struct Batch {
    raw: sys::llama_batch,
    capacity: usize,
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: allocated by `llama_batch_init`.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}

impl Batch {
    pub fn new(capacity: usize) -> Batch {
        let capacity = capacity.max(1);
        // SAFETY: token batch (no embeddings) for one sequence.
        let raw = unsafe { sys::llama_batch_init(i32::try_from(capacity).unwrap_or(i32::MAX), 0, 1) };
        Batch { raw, capacity }
    }

    pub fn clear(&mut self) {
        self.raw.n_tokens = 0;
    }

    pub fn len(&self) -> usize {
        self.raw.n_tokens as usize
    }

    /// Adds `token` at `pos` of sequence `seq`; `logits` asks for its output.
    pub fn push(&mut self, token: Token, pos: usize, seq: i32, logits: bool) -> Result<(), LlamaError> {
        let i = self.len();
        if i >= self.capacity {
            return Err(LlamaError("the batch is full".to_owned()));
        }
        let pos = i32::try_from(pos).map_err(|_| LlamaError("position out of range".to_owned()))?;
        // SAFETY: `i` < capacity, the size every array was allocated with;
        // each `seq_id[i]` has room for one sequence id.
        unsafe {
            *self.raw.token.add(i) = token;
            *self.raw.pos.add(i) = pos;
            *self.raw.n_seq_id.add(i) = 1;
            *(*self.raw.seq_id.add(i)) = seq;
            *self.raw.logits.add(i) = i8::from(logits);
        }
        self.raw.n_tokens += 1;
        Ok(())
    }
}

/// Picks the next token from a context's logits.
pub struct Sampler(NonNull<sys::llama_sampler>);

// SAFETY: owned by one job on the engine's thread.
unsafe impl Send for Sampler {}

impl Drop for Sampler {
    fn drop(&mut self) {
        // SAFETY: owned chain; it frees the samplers added to it.
        unsafe { sys::llama_sampler_free(self.0.as_ptr()) }
    }
}

impl Sampler {
    /// Greedy when `temperature` ≤ 0, else top-k 40, top-p, temperature and
    /// a random draw seeded with `seed`.
    pub fn new(temperature: f32, top_p: f32, seed: u32) -> Sampler {
        // SAFETY: a new chain takes ownership of each sampler added.
        unsafe {
            let chain = sys::llama_sampler_chain_init(sys::llama_sampler_chain_default_params());
            if temperature <= 0.0 {
                sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_greedy());
            } else {
                sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_top_k(40));
                sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_top_p(top_p.clamp(0.01, 1.0), 1));
                sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_temp(temperature));
                sys::llama_sampler_chain_add(chain, sys::llama_sampler_init_dist(seed));
            }
            Sampler(NonNull::new(chain).expect("llama.cpp allocates a sampler chain"))
        }
    }

    /// The next token from the logits of the batch's `index`-th token.
    pub fn sample(&mut self, ctx: &mut Context, index: usize) -> Token {
        // SAFETY: `index` is a token of the last decoded batch that asked
        // for logits.
        unsafe { sys::llama_sampler_sample(self.0.as_ptr(), ctx.ptr.as_ptr(), index as i32) }
    }
}
