/** A two-rank in-JVM ring driven through the engine's public API. */
package org.example.consumer;
