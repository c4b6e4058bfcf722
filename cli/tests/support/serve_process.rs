//! A `rivulet serve` process of a test's own: the real binary on a free
//! loopback port, its default model pointed at a loopback provider.

#![allow(dead_code)] // each test binary uses its part

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// The process, killed (SIGKILL) when dropped unless taken.
pub struct ServeProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub base: String,
}

impl ServeProcess {
    /// Runs `rivulet serve --addr 127.0.0.1:0 -m openai/gpt-4o-mini ARGS`
    /// with an empty environment but OpenAI's key and base URL
    /// (`provider_url`, the loopback provider's). Returns once it listens.
    pub fn start(provider_url: &str, args: &[&str]) -> ServeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rivulet"))
            .args(["serve", "--addr", "127.0.0.1:0", "-m", "openai/gpt-4o-mini"])
            .args(args)
            .env_clear()
            .env("OPENAI_BASE_URL", format!("{provider_url}/v1"))
            .env("OPENAI_API_KEY", "sk-test")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rivulet serve");
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("the first line");
        let base = line
            .trim()
            .strip_prefix("rivulet serve: listening on ")
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_string();
        // Whatever else it says must not fill the pipe and block it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        ServeProcess {
            child: Some(child),
            base,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills it at once (SIGKILL), as a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process, no longer killed on drop (to wait for its own exit).
    pub fn take(&mut self) -> Child {
        self.child.take().expect("not taken yet")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
