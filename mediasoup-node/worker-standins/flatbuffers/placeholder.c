/* Empty on purpose: stand-in libraries carry no code of their own. */
typedef int parley_standin_placeholder;
