//! `rivulet serve`: the HTTP server's pieces (feature `server`).

pub mod openai_compat;
