//! What `Model::stream` accepts: a prompt or a conversation.

use rivulet_core::Message;

/// A prompt (one user message) or whole messages.
///
/// ```
/// use rivulet::{Input, Message};
/// let a: Input = "Hi".into();
/// let b: Input = vec![Message::system("Be brief."), Message::user("Hi")].into();
/// assert_eq!(a.into_messages().len(), 1);
/// assert_eq!(b.into_messages().len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Input(Vec<Message>);

impl Input {
    /// The messages to send.
    pub fn into_messages(self) -> Vec<Message> {
        self.0
    }
}

impl From<&str> for Input {
    fn from(s: &str) -> Self {
        Input(vec![Message::user(s)])
    }
}

impl From<String> for Input {
    fn from(s: String) -> Self {
        Input(vec![Message::user(s)])
    }
}

impl From<&String> for Input {
    fn from(s: &String) -> Self {
        Input(vec![Message::user(s.as_str())])
    }
}

impl From<Message> for Input {
    fn from(m: Message) -> Self {
        Input(vec![m])
    }
}

impl From<Vec<Message>> for Input {
    fn from(m: Vec<Message>) -> Self {
        Input(m)
    }
}

impl From<&[Message]> for Input {
    fn from(m: &[Message]) -> Self {
        Input(m.to_vec())
    }
}
