//! rivulet.
