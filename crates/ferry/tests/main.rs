//! Integration tests over real sockets: one binary, a module per topic.
mod main {
    mod conditional;
    mod paths;
    mod ranges;
    mod representations;
    mod serving;
    pub(crate) mod support;
}
