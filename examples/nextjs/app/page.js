export default function Home() {
  return <a href="/connect/start">Connect your noon account</a>;
}
