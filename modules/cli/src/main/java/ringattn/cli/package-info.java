/** The ringattn command line. */
package ringattn.cli;
