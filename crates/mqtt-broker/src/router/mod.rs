//! Routing: the subscription trie, shared subscriptions and retained messages.
