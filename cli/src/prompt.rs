//! The prompt: the argument, standard input, or both.
//!
//! As Simon Willison's `llm` does, piped input and a prompt argument
//! combine (`git diff | rivulet "Review this:"`); here the argument comes
//! first, then a blank line, then the input. A terminal is read only when
//! there is no prompt argument (then it is the prompt).

use std::io::Read;

/// Standard input as the CLI sees it.
pub struct Stdin<'a> {
    /// Where to read it from.
    pub reader: &'a mut dyn Read,
    /// Whether it is a terminal: then it is read only when no prompt
    /// argument is given.
    pub terminal: bool,
}

/// The prompt from the argument and standard input. Errors are messages
/// for a usage error: input that cannot be read, or no prompt at all.
pub fn prompt(arg: Option<&str>, stdin: Stdin<'_>) -> Result<String, String> {
    let input = match (arg, stdin.terminal) {
        (Some(_), true) => String::new(),
        _ => {
            let mut s = String::new();
            match stdin.reader.read_to_string(&mut s) {
                Ok(_) => s,
                // A closed or unreadable stdin (a service manager, a CI
                // runner) adds nothing to a prompt the argument gives.
                Err(_) if arg.is_some() => String::new(),
                Err(e) => return Err(format!("reading the prompt from stdin: {e}")),
            }
        }
    };
    let prompt = match arg {
        Some(arg) if !input.trim().is_empty() => format!("{arg}\n\n{input}"),
        Some(arg) => arg.to_string(),
        None => input,
    };
    if prompt.trim().is_empty() {
        return Err("no prompt: pass one as an argument or on stdin".into());
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(arg: Option<&str>, input: &str, terminal: bool) -> Result<String, String> {
        let mut reader = input.as_bytes();
        prompt(
            arg,
            Stdin {
                reader: &mut reader,
                terminal,
            },
        )
    }

    /// A reader that fails, as a closed file descriptor 0 does.
    struct Closed;
    impl Read for Closed {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(9))
        }
    }

    #[test]
    fn an_unreadable_stdin_leaves_the_argument_alone() {
        fn closed(reader: &mut Closed) -> Stdin<'_> {
            Stdin {
                reader,
                terminal: false,
            }
        }
        assert_eq!(
            prompt(Some("hi"), closed(&mut Closed)),
            Ok("hi".to_string())
        );
        let err = prompt(None, closed(&mut Closed)).unwrap_err();
        assert!(err.starts_with("reading the prompt from stdin: "), "{err}");
    }

    #[test]
    fn argument_then_a_blank_line_then_piped_input() {
        assert_eq!(
            with(Some("Summarize:"), "line one\nline two\n", false).unwrap(),
            "Summarize:\n\nline one\nline two\n"
        );
        assert_eq!(with(Some("hi"), "", false).unwrap(), "hi");
        assert_eq!(with(Some("hi"), " \n", false).unwrap(), "hi");
        assert_eq!(with(None, "from stdin\n", false).unwrap(), "from stdin\n");
    }

    #[test]
    fn a_terminal_is_read_only_without_an_argument() {
        assert_eq!(with(Some("hi"), "typed", true).unwrap(), "hi");
        assert_eq!(with(None, "typed", true).unwrap(), "typed");
    }

    #[test]
    fn no_prompt_is_an_error() {
        let e = with(None, "  \n", false).unwrap_err();
        assert_eq!(e, "no prompt: pass one as an argument or on stdin");
        assert_eq!(with(Some(""), "", true).unwrap_err(), e);
    }
}
