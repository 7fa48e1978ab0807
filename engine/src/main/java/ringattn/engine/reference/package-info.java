/**
 * The fp64 reference attention, written for clarity rather than speed: the oracle every test in the
 * project compares against, and what the demo checks sampled rows with.
 */
package ringattn.engine.reference;
