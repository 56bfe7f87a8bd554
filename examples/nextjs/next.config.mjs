// noon-connect reads files and opens a database: keep it out of the bundle, as a Node.js package.
export default { serverExternalPackages: ['noon-connect'] };
